// config/: the example configs load with the values and positions they spell (a pipeline's
// `model:` and `batching:` sections as the JSON text handed to the plugin, which owns their
// defaults), and every bad config under tests/fixtures/config/bad/ fails with exactly the error
// its first line names ("# error: LINE:COLUMN: message"; the loader prefixes the file name).
// What the plugin refuses in those two sections is in bad_run/ (tests/consumer).
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bertd_config.h"

#define EXAMPLES BERTD_SOURCE_DIR "/config/examples"
#define BAD BERTD_FIXTURES "/config/bad"
#define MODELS BERTD_FIXTURES "/config/models"
#define EMBED_JSON                                                                                 \
    "{\"model\":{\"dir\":\"" MODELS "/all-MiniLM-L6-v2\",\"task\":\"embed\",\"max_length\":256},"     \
    "\"batching\":{\"max_batch_tokens\":8192,\"max_batch_records\":64,\"max_wait_ms\":5}}"
#define NEWS_JSON                                                                                  \
    "{\"model\":{\"dir\":\"" MODELS "/agnews-classifier\",\"task\":\"classify\",\"top_k\":2,"      \
    "\"threshold\":0.20000000000000001}}"
#define QA_JSON                                                                                    \
    "{\"model\":{\"dir\":\"" MODELS "/bert-squad\",\"task\":\"qa\",\"max_length\":384,"            \
    "\"on_too_long\":\"dead_letter\"},\"batching\":{\"max_batch_tokens\":6144,"                  \
    "\"max_batch_records\":16,\"buckets\":[64,128,256,384]}}"

// The examples take model directories from ${BERTD_MODELS}: point it at stub checkpoints.
static void environment(void) {
    setenv("BERTD_MODELS", BERTD_FIXTURES "/config/models", 1);
    unsetenv("BERTD_KAFKA_BOOTSTRAP");
    unsetenv("BERTD_SCHEMA_REGISTRY_URL");
    unsetenv("BERTD_TEST_UNSET_BOOTSTRAP");
}

TestSuite(config_yaml, .init = environment);

static struct bertd_daemon_config *load_ok(const char *path) {
    struct bertd_daemon_config *cfg = NULL;
    char errstr[512];
    int rc = bertd_dconf_load(path, &cfg, errstr, sizeof errstr);
    cr_assert_eq(rc, 0, "%s", errstr);
    cr_assert_not_null(cfg);
    return cfg;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

Test(config_yaml, intents_example) {
    struct bertd_daemon_config *cfg = load_ok(EXAMPLES "/intents.yaml");
    cr_assert_str_eq(bertd_dconf_kafka(cfg, "bootstrap.servers"), "127.0.0.1:9092");
    cr_assert_str_eq(bertd_dconf_kafka(cfg, "group.id"), "bertd");
    cr_assert_str_eq(bertd_dconf_kafka(cfg, "enable.auto.offset.store"), "false");
    cr_assert_null(bertd_dconf_kafka(cfg, "client.id"));
    cr_assert_eq(cfg->pipeline_count, 1);

    const struct bertd_pipeline_config *pl = &cfg->pipelines[0];
    cr_assert_str_eq(pl->name, "intents");
    cr_assert_eq(pl->input.topic_count, 1);
    cr_assert_str_eq(pl->input.topics[0], "utterances");
    cr_assert_str_eq(pl->input.schema, "../../schemas/utterance.avsc");
    cr_assert_str_eq(pl->input.schema_path, EXAMPLES "/../../schemas/utterance.avsc");
    cr_assert_str_eq(pl->input.text_field, "text");
    cr_assert_null(pl->input.text_pair_field);
    cr_assert_eq(pl->input.framing, BERTD_CONFIG_FRAMING_PLAIN);
    cr_assert_null(cfg->schema_registry.url); // no section: the daemon falls back to the environment
    cr_assert_str_eq(pl->output.topic, "utterances.enriched");
    cr_assert_str_eq(pl->dead_letter.topic, "utterances.dlq");
    cr_assert_str_eq(pl->model.dir, BERTD_FIXTURES "/config/models/atis-joint");
    cr_assert_str_eq(pl->model.dir_path, BERTD_FIXTURES "/config/models/atis-joint");
    // the stage's sections, handed on as written, typed as YAML types them, the dir resolved
    cr_assert_str_eq(pl->plugin_json,
                     "{\"model\":{\"dir\":\"" BERTD_FIXTURES "/config/models/atis-joint\","
                     "\"task\":\"joint\",\"max_length\":128,\"top_k\":3,\"threshold\":0.5,"
                     "\"on_too_long\":\"truncate\"},\"batching\":{\"max_batch_tokens\":4096,"
                     "\"max_batch_records\":32,\"max_wait_ms\":10,\"buckets\":[16,32,64,128]}}");
    bertd_dconf_destroy(cfg);
}

Test(config_yaml, multi_example_defaults) {
    struct bertd_daemon_config *cfg = load_ok(EXAMPLES "/multi.yaml");
    cr_assert_eq(cfg->pipeline_count, 3);
    cr_assert_str_eq(bertd_dconf_kafka(cfg, "session.timeout.ms"), "10000");

    const struct bertd_pipeline_config *intents = &cfg->pipelines[0];
    cr_assert_eq(intents->input.topic_count, 2);
    cr_assert_str_eq(intents->input.topics[1], "utterances.replay");
    // no defaults filled in here: the plugin owns them (tests/consumer/test_pipeline_settings.c)
    cr_assert_str_eq(intents->plugin_json,
                     "{\"model\":{\"dir\":\"" BERTD_FIXTURES "/config/models/atis-joint\","
                     "\"task\":\"joint\",\"on_too_long\":\"dead_letter\"}}");

    const struct bertd_pipeline_config *embed = &cfg->pipelines[1];
    cr_assert_str_eq(embed->dead_letter.topic, intents->dead_letter.topic);
    cr_assert_str_eq(embed->plugin_json, EMBED_JSON);

    const struct bertd_pipeline_config *news = &cfg->pipelines[2];
    cr_assert_eq(news->input.framing, BERTD_CONFIG_FRAMING_CONFLUENT);
    cr_assert_str_eq(cfg->schema_registry.url, "http://127.0.0.1:8081");
    const struct bertd_dconf_key *k = bertd_dconf_where(cfg, "schema_registry.url");
    cr_assert_not_null(k);
    cr_assert_eq(k->key.line, 12);
    cr_assert_eq(k->key.column, 3);
    cr_assert(ends_with(news->model.dir_path, "/config/models/agnews-classifier"));
    cr_assert_str_eq(news->plugin_json, NEWS_JSON);
    bertd_dconf_destroy(cfg);
}

Test(config_yaml, qa_example) {
    struct bertd_daemon_config *cfg = load_ok(EXAMPLES "/qa.yaml");
    const struct bertd_pipeline_config *pl = &cfg->pipelines[0];
    cr_assert_str_eq(pl->input.text_pair_field, "text_pair");
    cr_assert_str_eq(pl->plugin_json, QA_JSON);
    bertd_dconf_destroy(cfg);
}

// The README's demo: the model and task come from the environment.
Test(config_yaml, demo_example) {
    setenv("BERTD_DEMO_MODEL", BERTD_FIXTURES "/config/models/atis-joint", 1);
    setenv("BERTD_DEMO_TASK", "joint", 1);
    struct bertd_daemon_config *cfg = load_ok(EXAMPLES "/demo.yaml");
    const struct bertd_pipeline_config *pl = &cfg->pipelines[0];
    cr_assert(strstr(pl->plugin_json, "\"task\":\"joint\""));
    cr_assert(ends_with(pl->model.dir_path, "/config/models/atis-joint"));
    cr_assert_str_eq(pl->input.topics[0], "utterances");
    cr_assert_str_eq(pl->output.topic, "utterances.enriched");
    bertd_dconf_destroy(cfg);
    unsetenv("BERTD_DEMO_TASK");
    setenv("BERTD_DEMO_MODEL", BERTD_FIXTURES "/config/models/all-MiniLM-L6-v2", 1);
    cfg = load_ok(EXAMPLES "/demo.yaml");
    cr_assert(strstr(cfg->pipelines[0].plugin_json, "\"task\":\"embed\""));
    bertd_dconf_destroy(cfg);
    unsetenv("BERTD_DEMO_MODEL");
}

// Positions are 1-based and name the key and its value (intents.yaml, line 13 is `model: {...}`).
Test(config_yaml, key_positions) {
    struct bertd_daemon_config *cfg = load_ok(EXAMPLES "/intents.yaml");
    const struct bertd_dconf_key *k = bertd_dconf_where(cfg, "kafka");
    cr_assert_not_null(k);
    cr_assert_eq(k->key.line, 4);
    cr_assert_eq(k->key.column, 1);
    k = bertd_dconf_where(cfg, "kafka.group.id");
    cr_assert_not_null(k);
    cr_assert_eq(k->key.line, 6);
    cr_assert_eq(k->key.column, 3);
    cr_assert_eq(k->value.column, 13);
    k = bertd_dconf_where(cfg, "pipelines[0].model.task");
    cr_assert_not_null(k);
    cr_assert_eq(k->key.line, 13);
    cr_assert_eq(k->key.column, 58);
    cr_assert_eq(k->value.column, 64);
    k = bertd_dconf_where(cfg, "pipelines[0].input.topics[0]");
    cr_assert_not_null(k);
    cr_assert_eq(k->value.line, 10);
    cr_assert_eq(k->value.column, 23);
    cr_assert_null(bertd_dconf_where(cfg, "pipelines[0].model.nothing"));
    // Every key of the file is there, the kafka properties included.
    cr_assert_eq(cfg->key_count, 33, "%zu keys", cfg->key_count);
    bertd_dconf_destroy(cfg);
}

// Reads the "# error: ..." first line of a bad fixture.
static int expected_error(const char *path, char *out, size_t size) {
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f) return -1;
    int ok = fgets(line, sizeof line, f) != NULL && strncmp(line, "# error: ", 9) == 0;
    fclose(f);
    if (!ok) return -1;
    line[strcspn(line, "\n")] = '\0';
    snprintf(out, size, "%s", line + 9);
    return 0;
}

Test(config_yaml, bad_configs) {
    DIR *dir = opendir(BAD);
    cr_assert_not_null(dir, "cannot open %s", BAD);
    struct dirent *e;
    int checked = 0;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0) continue;
        char path[1024], expected[512], want[2048], errstr[1024] = "";
        snprintf(path, sizeof path, "%s/%s", BAD, e->d_name);
        cr_assert_eq(expected_error(path, expected, sizeof expected), 0,
                     "%s: first line must be '# error: LINE:COLUMN: message'", e->d_name);
        snprintf(want, sizeof want, "%s:%s", path, expected);
        struct bertd_daemon_config *cfg = NULL;
        int rc = bertd_dconf_load(path, &cfg, errstr, sizeof errstr);
        cr_expect_eq(rc, -1, "%s loaded, but should fail with: %s", e->d_name, expected);
        cr_expect_null(cfg);
        cr_expect_str_eq(errstr, want, "%s:\n  got  %s\n  want %s", e->d_name, errstr, want);
        cr_expect_null(strchr(errstr, '\n'), "%s: error is more than one line", e->d_name);
        bertd_dconf_destroy(cfg);
        checked++;
    }
    closedir(dir);
    cr_assert_geq(checked, 30, "only %d bad configs found in %s", checked, BAD);
}

Test(config_yaml, missing_file) {
    struct bertd_daemon_config *cfg = NULL;
    char errstr[512];
    cr_assert_eq(bertd_dconf_load(BAD "/no-such-file.yaml", &cfg, errstr, sizeof errstr), -1);
    cr_assert_null(cfg);
    cr_assert_str_eq(errstr, BAD "/no-such-file.yaml: cannot open: No such file or directory");
}

// ${NAME} and ${NAME:-default} in values (never in keys), $$ for a literal $.
Test(config_yaml, environment_expansion) {
    // Line 13 is filled in twice: a quoted number is a string, even after expansion.
    const char *head =
        "kafka:\n"
        "  bootstrap.servers: ${TEST_BROKER:-127.0.0.1:9092}\n"
        "  group.id: g-${TEST_GROUP}\n"
        "  sasl.password: p$$w$rd\n"
        "pipelines:\n"
        "  - name: p\n"
        "    input: { topics: [in], schema: schemas/utterance.avsc, text_field: text }\n"
        "    output: { topic: out }\n"
        "    dead_letter: { topic: dlq }\n"
        "    model:\n"
        "      dir: tests/fixtures/config/models/atis-joint\n"
        "      task: tag\n";
    char text[1024];
    struct bertd_daemon_config *cfg = NULL;
    char errstr[512];
    setenv("TEST_BROKER", "127.0.0.1:1234", 1);
    setenv("TEST_GROUP", "42", 1);
    unsetenv("TEST_LEN");
    // quoted: the string "64", which the plugin refuses where it wants an integer
    // (bad_run/wrong_type_quoted_number.yaml)
    snprintf(text, sizeof text, "%s      max_length: \"${TEST_LEN:-64}\"\n", head);
    cr_assert_eq(bertd_dconf_parse(text, strlen(text), "mem.yaml", BERTD_SOURCE_DIR, &cfg, errstr,
                                    sizeof errstr), 0, "%s", errstr);
    cr_assert(strstr(cfg->pipelines[0].plugin_json, "\"max_length\":\"64\"}"), "%s",
              cfg->pipelines[0].plugin_json);
    bertd_dconf_destroy(cfg);

    snprintf(text, sizeof text, "%s      max_length: ${TEST_LEN:-64}\n", head);
    cr_assert_eq(bertd_dconf_parse(text, strlen(text), "mem.yaml", BERTD_SOURCE_DIR, &cfg, errstr,
                                    sizeof errstr), 0, "%s", errstr);
    cr_assert_str_eq(bertd_dconf_kafka(cfg, "bootstrap.servers"), "127.0.0.1:1234");
    cr_assert_str_eq(bertd_dconf_kafka(cfg, "group.id"), "g-42");
    cr_assert_str_eq(bertd_dconf_kafka(cfg, "sasl.password"), "p$w$rd");
    cr_assert_str_eq(cfg->pipelines[0].plugin_json,
                     "{\"model\":{\"dir\":\"" BERTD_SOURCE_DIR "/tests/fixtures/config/models/atis-joint\","
                     "\"task\":\"tag\",\"max_length\":64}}");
    bertd_dconf_destroy(cfg);
    unsetenv("TEST_BROKER");
    unsetenv("TEST_GROUP");
}

// delivery: the default, the short form, the mapping form; ${file:PATH} reads a secret file
// (trailing newline dropped, relative to the config's directory).
Test(config_yaml, delivery_and_file_secrets) {
    const char *pipelines =
        "pipelines:\n"
        "  - name: p\n"
        "    input: { topics: [in], schema: schemas/utterance.avsc, text_field: text }\n"
        "    output: { topic: out }\n"
        "    dead_letter: { topic: dlq }\n"
        "    model: { dir: tests/fixtures/config/models/atis-joint, task: tag }\n";
    char dir[] = "/tmp/bertd-config-test-XXXXXX", secret[512], text[2048], errstr[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(secret, sizeof secret, "%s/pw", dir);
    FILE *f = fopen(secret, "w");
    cr_assert_not_null(f);
    fputs("s3cr$t\n", f);
    fclose(f);
    struct bertd_daemon_config *cfg = NULL;

    snprintf(text, sizeof text, "kafka: { bootstrap.servers: b:9092, group.id: g }\n%s", pipelines);
    cr_assert_eq(bertd_dconf_parse(text, strlen(text), "mem.yaml", BERTD_SOURCE_DIR, &cfg, errstr,
                                   sizeof errstr), 0, "%s", errstr);
    cr_assert_eq(cfg->delivery.mode, BERTD_CONFIG_AT_LEAST_ONCE);
    cr_assert_eq(cfg->delivery.commit_interval_ms, 100);
    cr_assert_null(cfg->delivery.transactional_id);
    bertd_dconf_destroy(cfg);

    snprintf(text, sizeof text, "delivery: exactly_once\nkafka:\n  bootstrap.servers: b:9092\n"
             "  group.id: g\n  sasl.password: pre-${file:%s}-post\n%s", secret, pipelines);
    cr_assert_eq(bertd_dconf_parse(text, strlen(text), "mem.yaml", BERTD_SOURCE_DIR, &cfg, errstr,
                                   sizeof errstr), 0, "%s", errstr);
    cr_assert_eq(cfg->delivery.mode, BERTD_CONFIG_EXACTLY_ONCE);
    cr_assert_eq(cfg->delivery.commit_interval_ms, 100);
    cr_assert_str_eq(bertd_dconf_kafka(cfg, "sasl.password"), "pre-s3cr$t-post");
    bertd_dconf_destroy(cfg);

    // the mapping form; a relative ${file:} is resolved against the config's directory (dir)
    snprintf(text, sizeof text, "delivery: { mode: exactly_once, commit_interval_ms: 250, "
             "transactional_id: bertd-a }\nkafka:\n  bootstrap.servers: b:9092\n  group.id: g\n"
             "  sasl.password: ${file:pw}\npipelines:\n  - name: p\n    input: { topics: [in], "
             "schema: %s/schemas/utterance.avsc, text_field: text }\n    output: { topic: out }\n"
             "    dead_letter: { topic: dlq }\n    model: { dir: %s/tests/fixtures/config/models/"
             "atis-joint, task: tag }\n", BERTD_SOURCE_DIR, BERTD_SOURCE_DIR);
    cr_assert_eq(bertd_dconf_parse(text, strlen(text), "mem.yaml", dir, &cfg, errstr,
                                   sizeof errstr), 0, "%s", errstr);
    cr_assert_eq(cfg->delivery.mode, BERTD_CONFIG_EXACTLY_ONCE);
    cr_assert_eq(cfg->delivery.commit_interval_ms, 250);
    cr_assert_str_eq(cfg->delivery.transactional_id, "bertd-a");
    cr_assert_str_eq(bertd_dconf_kafka(cfg, "sasl.password"), "s3cr$t");
    bertd_dconf_destroy(cfg);
    cr_assert_str_eq(bertd_dconf_delivery_name(BERTD_CONFIG_EXACTLY_ONCE), "exactly_once");
    unlink(secret);
    rmdir(dir);
}

Test(config_yaml, enum_names) {
    cr_assert_str_eq(bertd_dconf_framing_name(BERTD_CONFIG_FRAMING_CONFLUENT), "confluent");
}
