/* test_masking.c: BERT pre-training data. MLM odds measured over a million tokens, specials
 * never touched, NSP labels a fair coin with well-formed pairs, and the same seed giving the
 * same data. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bertd_masking.h"

static char err[256];

enum { PAD = 0, UNK = 100, CLS = 101, SEP = 102, MASK = 103, VOCAB = 30522 };
static const int32_t specials[] = {CLS, SEP, PAD, MASK, UNK};

static bertd_mlm_opts default_opts(void) {
  return (bertd_mlm_opts){.mask_prob = 0.15, .mask_token_prob = 0.8, .random_token_prob = 0.1,
                          .mask_id = MASK, .vocab_size = VOCAB, .special_ids = specials,
                          .n_special = 5, .ignore_index = BERTD_IGNORE_INDEX};
}

static int is_special(int32_t id) {
  for (int i = 0; i < 5; i++)
    if (specials[i] == id) return 1;
  return 0;
}

/* A sequence like the tokenizer's: [CLS] words [SEP] [PAD]..., with an [UNK] now and then. */
static int make_sequence(bertd_rng *r, int32_t *ids, int T) {
  int len = 8 + (int)bertd_rng_below(r, (uint64_t)(T - 8 + 1));
  ids[0] = CLS;
  for (int i = 1; i < len - 1; i++) {
    ids[i] = 999 + (int32_t)bertd_rng_below(r, VOCAB - 999);
    if (bertd_rng_below(r, 50) == 0) ids[i] = UNK;
  }
  ids[len - 1] = SEP;
  for (int i = len; i < T; i++) ids[i] = PAD;
  return len;
}

Test(masking, mlm_odds_over_a_million_tokens) {
  bertd_mlm_opts o = default_opts();
  bertd_rng data, rng;
  bertd_rng_seed(&data, 7);
  bertd_rng_seed(&rng, 42);
  enum { T = 128 };
  int32_t orig[T], ids[T], labels[T];
  long tokens = 0, maskable = 0, chosen = 0, masked = 0, randomized = 0, kept = 0;
  while (maskable < 1000000) { /* a million tokens that may be chosen */
    make_sequence(&data, orig, T);
    memcpy(ids, orig, sizeof ids);
    cr_assert_eq(bertd_mlm_mask(&rng, &o, ids, labels, T, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < T; i++) {
      tokens++;
      if (is_special(orig[i])) {
        /* specials: never chosen, never changed */
        cr_assert_eq(labels[i], BERTD_IGNORE_INDEX);
        cr_assert_eq(ids[i], orig[i]);
        continue;
      }
      maskable++;
      if (labels[i] == BERTD_IGNORE_INDEX) {
        cr_assert_eq(ids[i], orig[i]);
        continue;
      }
      chosen++;
      cr_assert_eq(labels[i], orig[i]);
      if (ids[i] == MASK) masked++;
      else if (ids[i] != orig[i]) {
        randomized++;
        cr_assert(!is_special(ids[i]) && ids[i] >= 0 && ids[i] < VOCAB, "random token %d", ids[i]);
      } else kept++;
    }
  }
  double p_chosen = 100.0 * chosen / maskable, p_mask = 100.0 * masked / chosen,
         p_rand = 100.0 * randomized / chosen, p_kept = 100.0 * kept / chosen;
  printf("masking: %ld tokens, %ld maskable, chosen %.3f %%; of those [MASK] %.3f %%, random "
         "%.3f %%, kept %.3f %%\n", tokens, maskable, p_chosen, p_mask, p_rand, p_kept);
  cr_expect(p_chosen > 14.5 && p_chosen < 15.5, "chosen %.3f %%", p_chosen);
  cr_expect(p_mask > 79.5 && p_mask < 80.5, "[MASK] %.3f %%", p_mask);
  cr_expect(p_rand > 9.5 && p_rand < 10.5, "random %.3f %%", p_rand);
  cr_expect(p_kept > 9.5 && p_kept < 10.5, "kept %.3f %%", p_kept);
}

Test(masking, count_is_exact_and_capped) {
  bertd_mlm_opts o = default_opts();
  bertd_rng rng;
  bertd_rng_seed(&rng, 1);
  int32_t ids[102], labels[102];
  ids[0] = CLS;
  for (int i = 1; i <= 100; i++) ids[i] = 2000 + i;
  ids[101] = SEP;
  cr_assert_eq(bertd_mlm_mask(&rng, &o, ids, labels, 102, err, sizeof err), 0);
  int n = 0;
  for (int i = 0; i < 102; i++) n += labels[i] != BERTD_IGNORE_INDEX;
  cr_expect_eq(n, 15); /* round(0.15 * 100) */
  o.max_predictions = 7;
  for (int i = 1; i <= 100; i++) ids[i] = 2000 + i;
  cr_assert_eq(bertd_mlm_mask(&rng, &o, ids, labels, 102, err, sizeof err), 0);
  n = 0;
  for (int i = 0; i < 102; i++) n += labels[i] != BERTD_IGNORE_INDEX;
  cr_expect_eq(n, 7);
  /* one maskable token: still one prediction, as Google's max(1, round(...)) */
  int32_t short_ids[3] = {CLS, 5000, SEP}, short_labels[3];
  cr_assert_eq(bertd_mlm_mask(&rng, &o, short_ids, short_labels, 3, err, sizeof err), 0);
  cr_expect_eq(short_labels[1], 5000);
  /* nothing maskable: nothing chosen */
  int32_t only[2] = {CLS, SEP}, only_labels[2];
  cr_assert_eq(bertd_mlm_mask(&rng, &o, only, only_labels, 2, err, sizeof err), 0);
  cr_expect(only_labels[0] == BERTD_IGNORE_INDEX && only_labels[1] == BERTD_IGNORE_INDEX);
  /* a custom ignore value (JointBERT-style 0) */
  o.ignore_index = 0;
  cr_assert_eq(bertd_mlm_mask(&rng, &o, only, only_labels, 2, err, sizeof err), 0);
  cr_expect(only_labels[0] == 0 && only_labels[1] == 0);
  o.mask_token_prob = 0.95;
  cr_expect_eq(bertd_mlm_mask(&rng, &o, only, only_labels, 2, err, sizeof err), -1);
  cr_expect_str_eq(err, "masking: probabilities out of range (mask 0.15, [MASK] 0.95, random 0.1)");
}

Test(masking, same_seed_same_masks) {
  bertd_mlm_opts o = default_opts();
  bertd_rng data, r1, r2, r3;
  bertd_rng_seed(&data, 3);
  enum { T = 64, N = 200 };
  static int32_t orig[N][T], a[N][T], b[N][T], c[N][T], la[N][T], lb[N][T], lc[N][T];
  for (int s = 0; s < N; s++) make_sequence(&data, orig[s], T);
  memcpy(a, orig, sizeof a);
  memcpy(b, orig, sizeof b);
  memcpy(c, orig, sizeof c);
  bertd_rng_seed(&r1, 1234);
  bertd_rng_seed(&r2, 1234);
  bertd_rng_seed(&r3, 1235);
  for (int s = 0; s < N; s++) {
    cr_assert_eq(bertd_mlm_mask(&r1, &o, a[s], la[s], T, err, sizeof err), 0);
    cr_assert_eq(bertd_mlm_mask(&r2, &o, b[s], lb[s], T, err, sizeof err), 0);
    cr_assert_eq(bertd_mlm_mask(&r3, &o, c[s], lc[s], T, err, sizeof err), 0);
  }
  cr_expect(memcmp(a, b, sizeof a) == 0 && memcmp(la, lb, sizeof la) == 0);
  cr_expect(memcmp(la, lc, sizeof la) != 0, "another seed chose the same positions");
}

/* A synthetic corpus whose token ids are their global positions (offset past the specials),
 * so a pair's tokens tell which document and sentence they came from. Documents of 2..24
 * sentences of 3..40 tokens, and a few one-sentence documents. */
static void make_corpus(bertd_pretrain_corpus *c, size_t n_docs, uint64_t seed) {
  bertd_rng r;
  bertd_rng_seed(&r, seed);
  int32_t buf[64];
  int32_t next = 1000;
  for (size_t d = 0; d < n_docs; d++) {
    size_t n_sent = d % 97 == 5 ? 1 : 2 + (size_t)bertd_rng_below(&r, 23);
    for (size_t s = 0; s < n_sent; s++) {
      size_t len = 3 + (size_t)bertd_rng_below(&r, 38);
      for (size_t k = 0; k < len; k++) buf[k] = next++;
      cr_assert_eq(bertd_pretrain_corpus_add_ids(c, buf, len, err, sizeof err), 0, "%s", err);
    }
    bertd_pretrain_corpus_end_document(c);
  }
}

static size_t doc_of(const bertd_pretrain_corpus *c, int32_t id) {
  size_t pos = (size_t)(id - 1000), lo = 0, hi = c->n_documents;
  while (hi - lo > 1) { /* last document whose first token is <= pos */
    size_t mid = (lo + hi) / 2;
    if (c->sentence_start[c->document_start[mid]] <= pos) lo = mid;
    else hi = mid;
  }
  return lo;
}

Test(masking, nsp_pairs_are_a_fair_coin_and_well_formed) {
  bertd_pretrain_corpus c = {0};
  make_corpus(&c, 3000, 11);
  cr_assert_eq(c.n_documents, 3000);
  bertd_nsp_opts o = {.max_length = 128, .short_seq_prob = 0.1, .cls_id = CLS, .sep_id = SEP};
  bertd_nsp_set set = {0};
  bertd_rng rng;
  bertd_rng_seed(&rng, 12345);
  while (set.n < 10000)
    cr_assert_eq(bertd_nsp_create(&rng, &c, &o, &set, err, sizeof err), 0, "%s", err);
  size_t random = 0;
  for (size_t i = 0; i < set.n; i++) {
    const int32_t *ids = set.ids + set.start[i], *tt = set.type_ids + set.start[i];
    size_t n = set.start[i + 1] - set.start[i];
    cr_assert(n <= 128 && n >= 5, "pair %zu has %zu tokens", i, n);
    cr_assert(ids[0] == CLS && ids[n - 1] == SEP);
    size_t sep = 1;
    while (ids[sep] != SEP) sep++;
    cr_assert(sep >= 2 && sep + 2 <= n - 1, "pair %zu: A or B empty", i);
    for (size_t k = 0; k < n; k++) cr_assert_eq(tt[k], k <= sep ? 0 : 1);
    int32_t a0 = ids[1], a1 = ids[sep - 1], b0 = ids[sep + 1], b1 = ids[n - 2];
    size_t da = doc_of(&c, a0);
    cr_assert_eq(doc_of(&c, a1), da);
    cr_assert_eq(doc_of(&c, b0), doc_of(&c, b1));
    if (set.is_random_next[i]) {
      random++;
      cr_assert_neq(doc_of(&c, b0), da, "pair %zu: random B from A's own document", i);
    } else {
      cr_assert_eq(doc_of(&c, b0), da, "pair %zu: next B from another document", i);
      cr_assert(b0 > a1, "pair %zu: B does not follow A", i);
    }
  }
  double p = 100.0 * (double)random / (double)set.n;
  printf("nsp: %zu pairs from %zu documents, random next %.3f %%\n", set.n, c.n_documents, p);
  cr_expect(p > 49.0 && p < 51.0, "random next %.3f %%", p);
  bertd_nsp_set_free(&set);
  bertd_pretrain_corpus_free(&c);
}

Test(masking, nsp_same_seed_same_pairs) {
  bertd_pretrain_corpus c = {0};
  make_corpus(&c, 300, 5);
  bertd_nsp_opts o = {.max_length = 64, .short_seq_prob = 0.1, .cls_id = CLS, .sep_id = SEP};
  bertd_nsp_set s1 = {0}, s2 = {0}, s3 = {0};
  bertd_rng r1, r2, r3;
  bertd_rng_seed(&r1, 99);
  bertd_rng_seed(&r2, 99);
  bertd_rng_seed(&r3, 100);
  cr_assert_eq(bertd_nsp_create(&r1, &c, &o, &s1, err, sizeof err), 0);
  cr_assert_eq(bertd_nsp_create(&r2, &c, &o, &s2, err, sizeof err), 0);
  cr_assert_eq(bertd_nsp_create(&r3, &c, &o, &s3, err, sizeof err), 0);
  cr_assert_eq(s1.n, s2.n);
  cr_assert_eq(s1.n_ids, s2.n_ids);
  cr_expect(memcmp(s1.ids, s2.ids, s1.n_ids * sizeof(int32_t)) == 0);
  cr_expect(memcmp(s1.is_random_next, s2.is_random_next, s1.n) == 0);
  cr_expect(s1.n_ids != s3.n_ids || memcmp(s1.ids, s3.ids, s1.n_ids * sizeof(int32_t)) != 0);
  bertd_nsp_set_free(&s1);
  bertd_nsp_set_free(&s2);
  bertd_nsp_set_free(&s3);
  bertd_pretrain_corpus_free(&c);
}

Test(masking, nsp_errors) {
  bertd_pretrain_corpus c = {0};
  int32_t ids[3] = {1000, 1001, 1002};
  cr_assert_eq(bertd_pretrain_corpus_add_ids(&c, ids, 3, err, sizeof err), 0);
  bertd_pretrain_corpus_end_document(&c);
  bertd_pretrain_corpus_end_document(&c); /* empty: ignored */
  cr_assert_eq(c.n_documents, 1);
  bertd_nsp_opts o = {.max_length = 128, .cls_id = CLS, .sep_id = SEP};
  bertd_nsp_set s = {0};
  bertd_rng r;
  bertd_rng_seed(&r, 1);
  cr_expect_eq(bertd_nsp_create(&r, &c, &o, &s, err, sizeof err), -1);
  cr_expect_str_eq(err, "masking: NSP needs at least 2 documents, the corpus has 1");
  cr_assert_eq(bertd_pretrain_corpus_add_ids(&c, ids, 3, err, sizeof err), 0);
  bertd_pretrain_corpus_end_document(&c);
  o.max_length = 4;
  cr_expect_eq(bertd_nsp_create(&r, &c, &o, &s, err, sizeof err), -1);
  cr_expect_str_eq(err, "masking: NSP max_length 4 leaves no room for two segments");
  bertd_pretrain_corpus_free(&c);
}

/* With a real vocabulary: opts from the tokenizer, sentences tokenized into the corpus. */
Test(masking, from_a_tokenizer) {
  char dir[] = "/tmp/bertd_masking_XXXXXX";
  cr_assert(mkdtemp(dir));
  char path[512];
  snprintf(path, sizeof path, "%s/vocab.txt", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\n##s\n.\n", f);
  fclose(f);
  bertd_tokenizer_opts to = {.do_lower_case = 1, .strip_accents = -1, .tokenize_chinese_chars = 1,
                             .model_max_length = 512};
  bertd_tokenizer *tok = NULL;
  cr_assert_eq(bertd_tokenizer_from_vocab(path, &to, &tok, err, sizeof err), 0, "%s", err);
  int32_t sp[5];
  bertd_mlm_opts o;
  cr_assert_eq(bertd_mlm_opts_init(&o, tok, sp, err, sizeof err), 0, "%s", err);
  cr_expect_eq(o.mask_id, 4);
  cr_expect_eq(o.vocab_size, 12);
  cr_expect_eq(o.n_special, 5);
  bertd_pretrain_corpus c = {0};
  bertd_encoding enc = {0};
  cr_assert_eq(bertd_pretrain_corpus_add_sentence(&c, tok, "The cats sat.", 13, &enc, err, sizeof err), 0);
  cr_assert_eq(bertd_pretrain_corpus_add_sentence(&c, tok, "", 0, &enc, err, sizeof err), 0);
  bertd_pretrain_corpus_end_document(&c);
  cr_assert_eq(c.n_sentences, 1);
  int32_t want[] = {5, 6, 10, 7, 11}; /* the cat ##s sat . */
  cr_assert_eq(c.n_tokens, 5);
  cr_expect(memcmp(c.tokens, want, sizeof want) == 0);
  bertd_encoding_free(&enc);
  bertd_pretrain_corpus_free(&c);
  bertd_tokenizer_free(tok);
  unlink(path);
  rmdir(dir);
}
