// The checks that need the whole file read: names and topics are legal and unique where they
// must be, no pipeline writes to a topic that some pipeline reads (that would loop records
// through the model forever) or that another pipeline writes, the files named exist, and
// values agree with one another. Errors point at the value that is wrong.
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config_internal.h"

#define MAX_TOPIC_LENGTH 249 // Kafka's own limit

struct check {
    const struct bertd_daemon_config *cfg;
    char *errstr;
    size_t errstr_size;
};

// "pipelines[i].suffix" into buf.
static const char *at(char *buf, size_t size, size_t i, const char *suffix) {
    snprintf(buf, size, "pipelines[%zu].%s", i, suffix);
    return buf;
}

static int legal_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static int legal_name(const char *s) {
    for (const char *p = s; *p; p++)
        if (!legal_name_char(*p)) return 0;
    return 1;
}

static int check_topic_name(struct check *c, const char *path, const char *topic) {
    if (!legal_name(topic))
        return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size,
                           "topic '%s' may only contain letters, digits, '.', '_' and '-'", topic);
    if (strlen(topic) > MAX_TOPIC_LENGTH || !strcmp(topic, ".") || !strcmp(topic, ".."))
        return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size,
                           "'%.40s' is not a legal Kafka topic name", topic);
    return 0;
}

static int check_names(struct check *c, size_t i) {
    const struct bertd_pipeline_config *pl = &c->cfg->pipelines[i];
    char path[128];
    at(path, sizeof path, i, "name");
    if (!legal_name(pl->name))
        return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size,
                           "pipeline name '%s' may only contain letters, digits, '.', '_' and '-'",
                           pl->name);
    for (size_t j = 0; j < i; j++) {
        if (strcmp(c->cfg->pipelines[j].name, pl->name) != 0) continue;
        char first[128];
        const struct bertd_dconf_key *k = bertd_dconf_where(c->cfg, at(first, sizeof first, j, "name"));
        return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size,
                           "duplicate pipeline name '%s' (first at line %d)", pl->name, k ? k->value.line : 0);
    }
    return 0;
}

static int check_topics(struct check *c, size_t i) {
    const struct bertd_pipeline_config *pl = &c->cfg->pipelines[i];
    char path[128], item[64];
    for (size_t t = 0; t < pl->input.topic_count; t++) {
        snprintf(item, sizeof item, "input.topics[%zu]", t);
        at(path, sizeof path, i, item);
        if (check_topic_name(c, path, pl->input.topics[t]) != 0) return -1;
        for (size_t u = 0; u < t; u++)
            if (!strcmp(pl->input.topics[u], pl->input.topics[t]))
                return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size,
                                   "topic '%s' is listed twice", pl->input.topics[t]);
    }
    if (check_topic_name(c, at(path, sizeof path, i, "output.topic"), pl->output.topic) != 0 ||
        check_topic_name(c, at(path, sizeof path, i, "dead_letter.topic"), pl->dead_letter.topic) != 0)
        return -1;
    return 0;
}

// The name of a pipeline that reads topic, or NULL.
static const char *reader_of(const struct bertd_daemon_config *cfg, const char *topic) {
    for (size_t j = 0; j < cfg->pipeline_count; j++)
        for (size_t t = 0; t < cfg->pipelines[j].input.topic_count; t++)
            if (!strcmp(cfg->pipelines[j].input.topics[t], topic)) return cfg->pipelines[j].name;
    return NULL;
}

// Outputs must not feed any input, and each output has one writer. Dead-letter topics must not
// feed any input or mix with any output; several pipelines may share one dead-letter topic.
static int check_clashes(struct check *c, size_t i) {
    const struct bertd_daemon_config *cfg = c->cfg;
    const struct bertd_pipeline_config *pl = &cfg->pipelines[i];
    char path[128];
    const char *reader;
    at(path, sizeof path, i, "output.topic");
    if ((reader = reader_of(cfg, pl->output.topic)))
        return bertd_dconf_fail(cfg, path, 1, c->errstr, c->errstr_size,
                           "output topic '%s' is also an input topic of pipeline '%s'", pl->output.topic, reader);
    for (size_t j = 0; j < i; j++)
        if (!strcmp(cfg->pipelines[j].output.topic, pl->output.topic))
            return bertd_dconf_fail(cfg, path, 1, c->errstr, c->errstr_size,
                               "output topic '%s' is already the output of pipeline '%s'",
                               pl->output.topic, cfg->pipelines[j].name);
    at(path, sizeof path, i, "dead_letter.topic");
    if ((reader = reader_of(cfg, pl->dead_letter.topic)))
        return bertd_dconf_fail(cfg, path, 1, c->errstr, c->errstr_size,
                           "dead-letter topic '%s' is also an input topic of pipeline '%s'",
                           pl->dead_letter.topic, reader);
    for (size_t j = 0; j < cfg->pipeline_count; j++)
        if (!strcmp(cfg->pipelines[j].output.topic, pl->dead_letter.topic))
            return bertd_dconf_fail(cfg, path, 1, c->errstr, c->errstr_size,
                               "dead-letter topic '%s' is also the output topic of pipeline '%s'",
                               pl->dead_letter.topic, cfg->pipelines[j].name);
    return 0;
}

static int check_files(struct check *c, size_t i) {
    const struct bertd_pipeline_config *pl = &c->cfg->pipelines[i];
    char path[128], json[4096];
    struct stat st;
    at(path, sizeof path, i, "input.schema");
    if (stat(pl->input.schema_path, &st) != 0)
        return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size, "schema file not found: '%s'",
                           pl->input.schema);
    if (!S_ISREG(st.st_mode))
        return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size, "schema '%s' is not a file",
                           pl->input.schema);
    at(path, sizeof path, i, "model.dir");
    if (!pl->model.dir) return 0; // not a string: the plugin's check names it
    if (stat(pl->model.dir_path, &st) != 0)
        return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size, "model directory not found: '%s'",
                           pl->model.dir);
    if (!S_ISDIR(st.st_mode))
        return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size, "model '%s' is not a directory",
                           pl->model.dir);
    snprintf(json, sizeof json, "%s/config.json", pl->model.dir_path);
    if (stat(json, &st) != 0)
        return bertd_dconf_fail(c->cfg, path, 1, c->errstr, c->errstr_size,
                           "model directory '%s' has no config.json (expected a Hugging Face checkpoint)",
                           pl->model.dir);
    return 0;
}

// The registry client speaks HTTP(S) only; saying so at load time beats a first failure at
// start-up after the model has loaded.
static int check_schema_registry(struct check *c) {
    const char *url = c->cfg->schema_registry.url;
    if (!url || !strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)) return 0;
    return bertd_dconf_fail(c->cfg, "schema_registry.url", 1, c->errstr, c->errstr_size,
                       "'%.60s' is not an http:// or https:// URL", url);
}

int bertd_dconf_validate(const struct bertd_daemon_config *cfg, char *errstr, size_t errstr_size) {
    struct check c = { cfg, errstr, errstr_size };
    if (check_schema_registry(&c) != 0) return -1;
    for (size_t i = 0; i < cfg->pipeline_count; i++)
        if (check_names(&c, i) != 0 || check_topics(&c, i) != 0 || check_clashes(&c, i) != 0 ||
            check_files(&c, i) != 0)
            return -1;
    return 0;
}
