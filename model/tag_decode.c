/* tag_decode.c: per-word tag logits -> one tag per word.
 *
 * argmax takes each word's best tag on its own, as JointBERT's predict.py and transformers'
 * token-classification pipeline do. It can produce sequences no BIO annotation has, such as
 * "O I-toloc.city_name" or "B-artist I-album", which conlleval then reads as extra, wrong spans.
 * bio finds the most probable sequence (sum of per-word log-softmax) among those where every
 * I-X follows B-X or I-X: a Viterbi pass with hard transition constraints and no learned
 * transition scores, so it needs nothing from the checkpoint beyond its label names.
 *
 * The constrained pass is O(n K): an I-X label has at most two legal predecessors (B-X, I-X),
 * every other label may follow anything, so each step needs the previous best overall plus two
 * look-ups. */
#include "bertd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bertd_tag_decoding_parse(const char *name, bertd_tag_decoding *out) {
  if (!name) return -1;
  if (!strcmp(name, "bio")) *out = BERTD_TAG_DECODE_BIO;
  else if (!strcmp(name, "argmax")) *out = BERTD_TAG_DECODE_ARGMAX;
  else return -1;
  return 0;
}

const char *bertd_tag_decoding_name(bertd_tag_decoding d) {
  return d == BERTD_TAG_DECODE_ARGMAX ? "argmax" : "bio";
}

/* "I-x" -> the index of "B-x" among names (-1 when absent; its other legal predecessor is
 * "I-x" itself); other labels get -2 (unconstrained). */
static void bio_predecessors(const char *const *names, int K, int *prev_b) {
  for (int j = 0; j < K; j++) {
    prev_b[j] = -2;
    const char *n = names[j];
    if (!n || n[0] != 'I' || n[1] != '-') continue;
    prev_b[j] = -1;
    for (int i = 0; i < K; i++)
      if (names[i] && names[i][0] == 'B' && names[i][1] == '-' && !strcmp(names[i] + 2, n + 2))
        prev_b[j] = i;
  }
}

/* log-softmax of one row (K) into out, in double for the sums over words */
static void log_softmax_row(const float *x, int K, double *out) {
  double m = x[0], s = 0.0;
  for (int k = 1; k < K; k++) m = x[k] > m ? x[k] : m;
  for (int k = 0; k < K; k++) s += exp((double)x[k] - m);
  double lse = m + log(s);
  for (int k = 0; k < K; k++) out[k] = (double)x[k] - lse;
}

int bertd_tag_decode(const float *logits, int n, int K, const char *const *names,
                     bertd_tag_decoding mode, int32_t *out, float *probs, char *errstr,
                     size_t errstr_size) {
  if (n <= 0) return 0;
  if (K <= 0 || !logits || !out) {
    snprintf(errstr, errstr_size, "tag decode: no tags to choose from");
    return -1;
  }
  size_t nk = (size_t)n * (size_t)K;
  double *lp = malloc(sizeof(double) * nk);           /* (n,K) log-probabilities */
  double *score = malloc(sizeof(double) * nk);        /* (n,K) best path score ending here */
  int32_t *back = malloc(sizeof(int32_t) * nk);       /* (n,K) that path's previous tag */
  int *prev_b = malloc(sizeof(int) * (size_t)K);
  int rc = -1;
  if (!lp || !score || !back || !prev_b) {
    snprintf(errstr, errstr_size, "tag decode: out of memory");
    goto out;
  }
  for (int t = 0; t < n; t++) log_softmax_row(logits + (size_t)t * K, K, lp + (size_t)t * K);

  int constrained = 0;
  if (mode == BERTD_TAG_DECODE_BIO && names) {
    bio_predecessors(names, K, prev_b);
    for (int j = 0; j < K; j++) constrained |= prev_b[j] != -2;
    /* a label set with only I- tags has no legal first tag: decode it as argmax */
    int free_label = 0;
    for (int j = 0; j < K; j++) free_label |= prev_b[j] == -2;
    constrained &= free_label;
  }
  if (!constrained) {
    for (int t = 0; t < n; t++) {
      const double *r = lp + (size_t)t * K;
      int best = 0;
      for (int k = 1; k < K; k++) best = r[k] > r[best] ? k : best;
      out[t] = best;
    }
  } else {
    /* start: an I- tag cannot open the sentence (its predecessor is "outside") */
    for (int j = 0; j < K; j++) score[j] = prev_b[j] == -2 ? lp[j] : -INFINITY;
    for (int t = 1; t < n; t++) {
      const double *ps = score + (size_t)(t - 1) * K;
      int any = 0;
      for (int i = 1; i < K; i++) any = ps[i] > ps[any] ? i : any;
      for (int j = 0; j < K; j++) {
        int from = any;
        if (prev_b[j] != -2) {
          /* I-X (label j): from B-X or I-X only */
          int b = prev_b[j];
          from = b >= 0 && ps[b] > ps[j] ? b : j;
        }
        score[(size_t)t * K + j] = ps[from] + lp[(size_t)t * K + j];
        back[(size_t)t * K + j] = from;
      }
    }
    const double *last = score + (size_t)(n - 1) * K;
    int best = 0;
    for (int k = 1; k < K; k++) best = last[k] > last[best] ? k : best;
    for (int t = n - 1; t >= 0; t--) {
      out[t] = best;
      if (t > 0) best = back[(size_t)t * K + best];
    }
  }
  if (probs)
    for (int t = 0; t < n; t++) probs[t] = (float)exp(lp[(size_t)t * K + out[t]]);
  rc = 0;
out:
  free(lp);
  free(score);
  free(back);
  free(prev_b);
  return rc;
}
