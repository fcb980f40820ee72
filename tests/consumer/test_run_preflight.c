// consumer/run_preflight.c and pipeline_settings.c: what `bertd run` checks before it starts
// anything, with the plugin it would load (libbertd_plugin.so, by path).
// - every config under tests/fixtures/config/bad_run/ loads (the config layer has nothing
//   against it) and fails the preflight with exactly the error its first line names, at the
//   line of the YAML file that set the key the plugin refused;
// - the examples' model and batching settings come out of the plugin's one table of defaults as
//   config/README.md states them (the effective settings, exact JSON);
// - the daemon's share of threads goes into model.threads only where the file left it unset.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bertd_daemon.h"
#include "pipeline_settings.h"
#include "plugin_host.h"

#define BAD_RUN BERTD_FIXTURES "/config/bad_run"
#define EXAMPLES BERTD_SOURCE_DIR "/config/examples"
#define MODELS BERTD_FIXTURES "/config/models"

static void environment(void) {
    setenv("BERTD_MODELS", MODELS, 1);
    unsetenv("BERTD_KAFKA_BOOTSTRAP");
    unsetenv("BERTD_SCHEMA_REGISTRY_URL");
}

TestSuite(run_preflight, .init = environment);

static struct bertd_daemon_config *load_ok(const char *path) {
    struct bertd_daemon_config *cfg = NULL;
    char errstr[1024];
    cr_assert_eq(bertd_dconf_load(path, &cfg, errstr, sizeof errstr), 0, "%s", errstr);
    return cfg;
}

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

Test(run_preflight, bad_run_configs) {
    DIR *dir = opendir(BAD_RUN);
    cr_assert_not_null(dir);
    struct dirent *e;
    int checked = 0;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0) continue;
        char path[1024], expected[512], want[2048], errstr[1024] = "";
        snprintf(path, sizeof path, "%s/%s", BAD_RUN, e->d_name);
        cr_assert_eq(expected_error(path, expected, sizeof expected), 0, "%s: no '# error:' line",
                     e->d_name);
        snprintf(want, sizeof want, "%s:%s", path, expected);
        struct bertd_daemon_config *cfg = load_ok(path);
        cr_expect_eq(bertd_run_preflight(cfg, BERTD_PLUGIN_SO, errstr, sizeof errstr), -1,
                     "%s passed the preflight", e->d_name);
        cr_expect_str_eq(errstr, want, "%s:\n  got  %s\n  want %s", e->d_name, errstr, want);
        bertd_dconf_destroy(cfg);
        checked++;
    }
    closedir(dir);
    cr_assert_geq(checked, 18, "only %d configs in %s", checked, BAD_RUN);
}

// The effective settings of pipeline i, as the plugin will use them.
static void effective(const char *config, size_t i, char *out, size_t size) {
    struct bertd_daemon_config *cfg = load_ok(config);
    bertd_plugin_host host;
    char errstr[1024], task[16];
    cr_assert_eq(bertd_plugin_host_open(&host, BERTD_PLUGIN_SO, errstr, sizeof errstr), 0, "%s",
                 errstr);
    cr_assert_eq(bertd_run_preflight(cfg, BERTD_PLUGIN_SO, errstr, sizeof errstr), 0, "%s", errstr);
    cr_assert_eq(bertd_pipeline_settings_check(host.api, cfg, i, task, sizeof task, errstr,
                                               sizeof errstr), 0, "%s", errstr);
    cr_assert_eq(host.api->config_check(cfg->pipelines[i].plugin_json, out, size, errstr,
                                        sizeof errstr), 0, "%s", errstr);
    bertd_plugin_host_close(&host);
    bertd_dconf_destroy(cfg);
}

#define MODEL_DEFAULTS(dir, task, rest)                                                            \
    "{\"model\":{\"dir\":\"" MODELS "/" dir "\",\"task\":\"" task "\"," rest "}"

Test(run_preflight, intents_example_settings) {
    char eff[4096];
    effective(EXAMPLES "/intents.yaml", 0, eff, sizeof eff);
    cr_assert_str_eq(eff, MODEL_DEFAULTS("atis-joint", "joint",
                                         "\"max_length\":128,\"truncation\":\"longest_first\","
                                         "\"top_k\":3,\"threshold\":0.5,\"max_answer_tokens\":15,"
                                         "\"tag_decoding\":\"bio\",\"threads\":null,\"precision\":\"fp32\","
                                         "\"min_agreement\":null,\"calibration\":null,"
                                         "\"on_too_long\":\"truncate\",\"window_stride\":null,"
                                         "\"window_combine\":\"mean\"")
                     ",\"batching\":{\"max_batch_tokens\":4096,\"max_batch_records\":32,"
                     "\"max_wait_ms\":10,\"buckets\":[16,32,64,128]}}");
}

// multi.yaml's first pipeline sets only dir, task and on_too_long: every other value here is a
// default of the plugin's table, and config/README.md states the same ones.
Test(run_preflight, defaults) {
    char eff[4096];
    effective(EXAMPLES "/multi.yaml", 0, eff, sizeof eff);
    cr_assert_str_eq(eff, MODEL_DEFAULTS("atis-joint", "joint",
                                         "\"max_length\":128,\"truncation\":\"longest_first\","
                                         "\"top_k\":0,\"threshold\":null,\"max_answer_tokens\":15,"
                                         "\"tag_decoding\":\"bio\",\"threads\":null,\"precision\":\"fp32\","
                                         "\"min_agreement\":null,\"calibration\":null,"
                                         "\"on_too_long\":\"dead_letter\",\"window_stride\":null,"
                                         "\"window_combine\":\"mean\"")
                     ",\"batching\":{\"max_batch_tokens\":4096,\"max_batch_records\":32,"
                     "\"max_wait_ms\":10,\"buckets\":[16,32,64,128]}}");
    // buckets left out: 16, 32, ... up to max_length 256
    effective(EXAMPLES "/multi.yaml", 1, eff, sizeof eff);
    cr_assert(strstr(eff, "\"max_length\":256,"), "%s", eff);
    cr_assert(strstr(eff, "\"batching\":{\"max_batch_tokens\":8192,\"max_batch_records\":64,"
                          "\"max_wait_ms\":5,\"buckets\":[16,32,64,128,256]}}"), "%s", eff);
    // buckets written up to max_length: as written
    effective(EXAMPLES "/qa.yaml", 0, eff, sizeof eff);
    cr_assert(strstr(eff, "\"buckets\":[64,128,256,384]}}"), "%s", eff);
}

// Buckets written below max_length get max_length as their last, so every record has one.
Test(run_preflight, buckets_closed_by_max_length) {
    bertd_plugin_host host;
    char errstr[512], eff[4096];
    cr_assert_eq(bertd_plugin_host_open(&host, BERTD_PLUGIN_SO, errstr, sizeof errstr), 0, "%s",
                 errstr);
    cr_assert_eq(host.api->config_check("{\"model\":{\"dir\":\"m\",\"task\":\"tag\","
                                        "\"max_length\":100},\"batching\":{\"buckets\":[8,40]}}",
                                        eff, sizeof eff, errstr, sizeof errstr), 0, "%s", errstr);
    cr_assert(strstr(eff, "\"buckets\":[8,40,100]}}"), "%s", eff);
    // too small a buffer is an error that says what is needed, not a cut text
    cr_assert_eq(host.api->config_check("{\"model\":{\"dir\":\"m\",\"task\":\"tag\"}}", eff, 16,
                                        errstr, sizeof errstr), -1);
    cr_assert(strstr(errstr, "config: the effective config needs "), "%s", errstr);
    bertd_plugin_host_close(&host);
}

Test(run_preflight, threads_share_only_where_unset) {
    struct bertd_pipeline_config pc = {0};
    pc.plugin_json = "{\"model\":{\"dir\":\"m\",\"task\":\"embed\"}}";
    char *j = bertd_pipeline_plugin_json(&pc, 3);
    cr_assert_str_eq(j, "{\"model\":{\"dir\":\"m\",\"task\":\"embed\",\"threads\":3}}");
    free(j);
    pc.plugin_json = "{\"model\":{\"dir\":\"m\",\"task\":\"embed\",\"threads\":1}}";
    j = bertd_pipeline_plugin_json(&pc, 3);
    cr_assert_str_eq(j, "{\"model\":{\"dir\":\"m\",\"task\":\"embed\",\"threads\":1}}");
    free(j);
    j = bertd_pipeline_plugin_json(&pc, 0);
    cr_assert_str_eq(j, pc.plugin_json);
    free(j);
}
