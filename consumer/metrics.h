/* metrics.h: a small registry of Prometheus counters, gauges and histograms, rendered in the
 * Prometheus text exposition format (version 0.0.4). One registry belongs to one daemon; the
 * daemon's thread updates it and the HTTP thread renders it, so every call takes the registry's
 * lock. A series is a family plus its labels, given as the text between the braces
 * (`pipeline="intents",reason="TOO_LONG"`, "" for none), which bertd_metrics_labels() writes
 * with the format's escaping. */
#ifndef BERTD_METRICS_H
#define BERTD_METRICS_H

#include <stddef.h>

typedef struct bertd_metrics bertd_metrics;

typedef enum {
  BERTD_METRIC_COUNTER,
  BERTD_METRIC_GAUGE,
  BERTD_METRIC_HISTOGRAM
} bertd_metric_type;

bertd_metrics *bertd_metrics_new(void);
void bertd_metrics_free(bertd_metrics *m);

/* Declares a family and returns its handle (>= 0), or -1 when out of memory. bounds: a
 * histogram's bucket upper bounds, ascending (copied; +Inf is implicit); NULL for the others.
 * Families are rendered in the order declared. */
int bertd_metrics_family(bertd_metrics *m, const char *name, bertd_metric_type type,
                         const char *help, const double *bounds, int nbounds);

/* Counter: adds v (>= 0). Gauge: adds v. Returns -1 when out of memory (the value is lost). */
int bertd_metrics_add(bertd_metrics *m, int family, const char *labels, double v);
/* Gauge: sets v. */
int bertd_metrics_set(bertd_metrics *m, int family, const char *labels, double v);
/* Histogram: one observation. */
int bertd_metrics_observe(bertd_metrics *m, int family, const char *labels, double v);
/* Drops every series of the family: for gauges whose label sets come and go (a partition's lag,
 * the model info after a reload). */
void bertd_metrics_clear(bertd_metrics *m, int family);

/* Holds the lock across several updates, so a scrape sees all of them or none (the calls above
 * may be made while holding it). */
void bertd_metrics_lock(bertd_metrics *m);
void bertd_metrics_unlock(bertd_metrics *m);

/* Writes name="value" pairs, comma-separated, values escaped as the format wants (\\, \", \n),
 * from a NULL-terminated list of name, value arguments. Returns buf ("" if it did not fit). */
char *bertd_metrics_labels(char *buf, size_t size, ...) __attribute__((sentinel));

/* The whole registry as exposition text (malloc'd, NUL-terminated, length in *len); NULL when
 * out of memory. */
char *bertd_metrics_render(bertd_metrics *m, size_t *len);

#endif
