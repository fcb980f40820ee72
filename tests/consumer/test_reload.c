/* test_reload.c: what a reload may change (consumer/reload.c's bertd_reload_compatible), on
 * configs parsed from text, and the metrics and reload sections as the loader reads them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "bertd_config.h"
#include "reload.h"

static const char *BASE =
    "kafka:\n"
    "  bootstrap.servers: 127.0.0.1:9092\n"
    "  group.id: %s\n"
    "%s"
    "pipelines:\n"
    "  - name: intents\n"
    "    input: { topics: [%s], schema: " BERTD_SOURCE_DIR "/schemas/utterance.avsc, "
    "text_field: text }\n"
    "    output: { topic: out }\n"
    "    dead_letter: { topic: dlq }\n"
    "    model: { dir: " BERTD_FIXTURES "/config/models/atis-joint, task: joint, top_k: %d }\n";

static struct bertd_daemon_config *parse(const char *group, const char *sections,
                                         const char *topics, int top_k) {
  char text[2048], err[512];
  snprintf(text, sizeof text, BASE, group, sections, topics, top_k);
  struct bertd_daemon_config *cfg = NULL;
  cr_assert_eq(bertd_dconf_parse(text, strlen(text), "bertd.yaml", ".", &cfg, err, sizeof err),
               0, "%s", err);
  return cfg;
}

Test(reload, sections_as_read) {
  struct bertd_daemon_config *a = parse("g", "", "in", 1);
  cr_assert_null(a->metrics.listen);
  cr_assert_eq(a->reload.watch, 0);
  cr_assert_eq(a->reload.interval_ms, 2000);
  struct bertd_daemon_config *b =
      parse("g", "metrics: { listen: '[::1]:9464' }\nreload: { watch: true, interval_ms: 250 }\n",
            "in", 1);
  cr_assert_str_eq(b->metrics.listen, "[::1]:9464");
  cr_assert_eq(b->reload.watch, 1);
  cr_assert_eq(b->reload.interval_ms, 250);
  bertd_dconf_destroy(a);
  bertd_dconf_destroy(b);
}

Test(reload, what_needs_a_restart) {
  char err[512];
  struct bertd_daemon_config *old = parse("g", "metrics: { listen: 127.0.0.1:9464 }\n", "in", 1);
  struct bertd_daemon_config *model = parse("g", "metrics: { listen: 127.0.0.1:9464 }\n", "in", 3);
  struct bertd_daemon_config *group = parse("h", "metrics: { listen: 127.0.0.1:9464 }\n", "in", 1);
  struct bertd_daemon_config *topic = parse("g", "metrics: { listen: 127.0.0.1:9464 }\n",
                                            "in, more", 1);
  struct bertd_daemon_config *listen = parse("g", "", "in", 1);
  cr_assert_eq(bertd_reload_compatible(old, model, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_reload_compatible(old, group, err, sizeof err), -1);
  cr_assert_str_eq(err, "bertd.yaml: a reload cannot change kafka.group.id; restart bertd for it");
  cr_assert_eq(bertd_reload_compatible(old, topic, err, sizeof err), -1);
  cr_assert_str_eq(err, "bertd.yaml: a reload cannot change the input topics (more is new); "
                        "restart bertd for it");
  cr_assert_eq(bertd_reload_compatible(topic, old, err, sizeof err), -1);
  cr_assert_str_eq(err, "bertd.yaml: a reload cannot change the input topics (more is no longer "
                        "read); restart bertd for it");
  cr_assert_eq(bertd_reload_compatible(old, listen, err, sizeof err), -1);
  cr_assert_str_eq(err, "bertd.yaml: a reload cannot change metrics.listen; restart bertd for it");
  bertd_dconf_destroy(old);
  bertd_dconf_destroy(model);
  bertd_dconf_destroy(group);
  bertd_dconf_destroy(topic);
  bertd_dconf_destroy(listen);
}

/* delivery: the producer is transactional (or not), with its id and interval, from start-up */
Test(reload, delivery_needs_a_restart) {
  char err[512];
  struct bertd_daemon_config *alo = parse("g", "", "in", 1);
  struct bertd_daemon_config *eos = parse("g", "delivery: exactly_once\n", "in", 1);
  struct bertd_daemon_config *eos2 = parse("g", "delivery: { mode: exactly_once }\n", "in", 3);
  struct bertd_daemon_config *id =
      parse("g", "delivery: { mode: exactly_once, transactional_id: other }\n", "in", 1);
  struct bertd_daemon_config *interval =
      parse("g", "delivery: { commit_interval_ms: 250 }\n", "in", 1);
  cr_assert_eq(bertd_reload_compatible(eos, eos2, err, sizeof err), 0, "%s", err);
  cr_assert_eq(bertd_reload_compatible(alo, eos, err, sizeof err), -1);
  cr_assert_str_eq(err, "bertd.yaml: a reload cannot change delivery; restart bertd for it");
  cr_assert_eq(bertd_reload_compatible(eos, id, err, sizeof err), -1);
  cr_assert_eq(bertd_reload_compatible(alo, interval, err, sizeof err), -1);
  bertd_dconf_destroy(alo);
  bertd_dconf_destroy(eos);
  bertd_dconf_destroy(eos2);
  bertd_dconf_destroy(id);
  bertd_dconf_destroy(interval);
}
