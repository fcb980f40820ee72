package bertd.flink;

/** One finished record, copied out of the plugin (bertd_plugin_completion + timing). */
public final class BertdCompletion {
  /** The ref given to submit. */
  public final long ref;
  /** bertd_plugin_reason: 0 when result is set. */
  public final int reason;
  /** "ok", "invalid_input", "too_long", "inference". */
  public final String reasonName;
  /** One line; "" when reason is ok. */
  public final String error;
  /** The task's result object as compact JSON text (as `bertd TASK` prints it); null on error. */
  public final String result;
  /** Tokens of the encoded record (for too_long, before truncation). */
  public final int tokens;
  public final double queueMs;
  public final double modelMs;

  BertdCompletion(long ref, int reason, String reasonName, String error, String result,
      int tokens, double queueMs, double modelMs) {
    this.ref = ref;
    this.reason = reason;
    this.reasonName = reasonName;
    this.error = error;
    this.result = result;
    this.tokens = tokens;
    this.queueMs = queueMs;
    this.modelMs = modelMs;
  }

  public boolean ok() {
    return reason == 0;
  }

  /** The reason as the daemon's dead-letter header bertd.reason names it: TOO_LONG,
   *  INVALID_INPUT or MODEL_FAILED (null when ok). */
  public String deadLetterReason() {
    switch (reason) {
      case 0:
        return null;
      case 1:
        return "INVALID_INPUT";
      case 2:
        return "TOO_LONG";
      default:
        return "MODEL_FAILED";
    }
  }
}
