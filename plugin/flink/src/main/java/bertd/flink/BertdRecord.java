package bertd.flink;

/**
 * A record on its way through the bertd stage (a Flink POJO): what was read, the text to
 * enrich, and what bertd made of it. The same type leaves by the main output (result set) and
 * by the dead-letter side output (reason and error set, result null).
 */
public class BertdRecord {
  /** The record's id: its Kafka key, or its line number in a file. */
  public String id;
  /** The input as read (Avro datum, or a JSONL line), kept for the output and dead letters. */
  public byte[] payload;
  /** Kafka key bytes, or null. */
  public byte[] key;
  /** The text to enrich, UTF-8 as read (possibly invalid: bertd says so). */
  public byte[] text;
  /** The second text of pair tasks (qa, nsp), or null. */
  public byte[] pair;
  /** Where it came from (Kafka), for dead-letter headers; "" / -1 otherwise. */
  public String topic = "";
  public int partition = -1;
  public long offset = -1;
  /** Line number (file input), 0 otherwise. */
  public long line;
  /** Run bertd's waiting batches right after this record is submitted (file input forms the
   *  batches `bertd TASK` forms this way). */
  public boolean flushAfter;

  /** The task's result as compact JSON text (bertd_plugin_completion.result), when enriched. */
  public String result;
  public int tokens;
  /** The model that enriched it: its name and weights checksum (bertd_plugin_model_info). */
  public String model;
  public String checksum;
  public double queueMs;
  public double modelMs;
  /** Why it was not enriched, named as the daemon's dead-letter header bertd.reason names it:
   *  NOT_AVRO, MISSING_FIELD, NOT_A_STRING, INVALID_UTF8 (decoding), TOO_LONG, INVALID_INPUT,
   *  MODEL_FAILED (bertd); null when enriched. */
  public String reason;
  /** One line saying what was wrong; null when enriched. */
  public String error;

  public BertdRecord() {}

  public BertdRecord deadLetter(String reason, String error) {
    this.reason = reason;
    this.error = error;
    this.result = null;
    return this;
  }
}
