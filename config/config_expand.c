// ${NAME} expansion in config values, so one file serves several machines: the broker address
// or model directory can come from the environment (`dir: ${BERTD_MODEL_DIR:-/models/minilm}`).
// Keys are never expanded. $$ stands for a literal $; any other $ is kept as it is.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

struct buffer {
    char *data;
    size_t len, cap;
};

static int buffer_add(struct buffer *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) return -1;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int is_name_char(char c, int first) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

int bertd_dconf_expand(const char *in, char **out, char *why, size_t why_size) {
    struct buffer b = { NULL, 0, 0 };
    const char *p = in;
    if (buffer_add(&b, "", 0) != 0) goto oom;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            if (buffer_add(&b, p, strlen(p)) != 0) goto oom;
            break;
        }
        if (buffer_add(&b, p, (size_t)(dollar - p)) != 0) goto oom;
        if (dollar[1] == '$') {
            if (buffer_add(&b, "$", 1) != 0) goto oom;
            p = dollar + 2;
            continue;
        }
        if (dollar[1] != '{') {
            if (buffer_add(&b, "$", 1) != 0) goto oom;
            p = dollar + 1;
            continue;
        }
        const char *name = dollar + 2, *end = name;
        while (is_name_char(*end, end == name)) end++;
        size_t name_len = (size_t)(end - name);
        const char *fallback = NULL, *close = NULL;
        if (name_len > 0 && end[0] == '}') {
            close = end;
        } else if (name_len > 0 && end[0] == ':' && end[1] == '-') {
            fallback = end + 2;
            close = strchr(fallback, '}');
        }
        if (!close) {
            snprintf(why, why_size, "bad ${...} in '%s': expected ${NAME} or ${NAME:-default}", in);
            free(b.data);
            return -1;
        }
        char var[256];
        if (name_len >= sizeof var) {
            snprintf(why, why_size, "environment variable name too long in '%s'", in);
            free(b.data);
            return -1;
        }
        memcpy(var, name, name_len);
        var[name_len] = '\0';
        const char *value = getenv(var);
        if (value && value[0]) {
            if (buffer_add(&b, value, strlen(value)) != 0) goto oom;
        } else if (fallback) {
            if (buffer_add(&b, fallback, (size_t)(close - fallback)) != 0) goto oom;
        } else {
            snprintf(why, why_size, "environment variable %s is not set", var);
            free(b.data);
            return -1;
        }
        p = close + 1;
    }
    *out = b.data;
    return 0;
oom:
    snprintf(why, why_size, "out of memory");
    free(b.data);
    return -1;
}
