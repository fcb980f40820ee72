package bertd.flink.sql;

import bertd.flink.BertdCompletion;
import bertd.flink.BertdConfig;
import bertd.flink.BertdException;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Collections;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.types.Row;

/**
 * The bertd stage as an async SQL table function, one per task:
 *
 * <pre>
 *   CREATE FUNCTION bertd_joint AS 'bertd.flink.sql.BertdJoint';
 *   SELECT id, r.intent, r.slots FROM utterances, LATERAL TABLE(bertd_joint(text)) AS r;
 *   SELECT id, r.intent FROM utterances,
 *          LATERAL TABLE(bertd_joint(text, 'model.dir=models/atis;model.top_k=3')) AS r;
 * </pre>
 *
 * <p>The model and batching settings (BertdConfig's dotted names) come from the optional second
 * argument, else from the job configuration's global job parameters named {@code bertd.KEY}
 * (e.g. {@code SET 'pipeline.global-job-parameters' = 'bertd.model.dir:models/atis'}), else
 * from the instance given to {@code createTemporarySystemFunction} in the Table API. Each
 * subtask runs one bertd stage; Flink keeps up to {@code
 * table.exec.async-table.max-concurrent-operations} rows in flight, and those meet in bertd's
 * length buckets. Every input row yields one output row: a record bertd cannot enrich has
 * {@code error} set ("REASON: message", the daemon's dead-letter reasons) and its other columns null.
 */
public abstract class BertdAsyncFunction extends AsyncTableFunction<Row> {
  private static final long serialVersionUID = 1L;
  static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] KEYS = {"plugin", "model.dir", "model.max_length",
      "model.truncation", "model.top_k", "model.threshold", "model.max_answer_tokens",
      "model.tag_decoding", "model.threads", "model.on_too_long", "model.window_stride",
      "model.window_combine", "model.precision", "model.min_agreement", "model.calibration",
      "batching.max_batch_tokens",
      "batching.max_batch_records", "batching.max_wait_ms", "batching.buckets"};

  private final String task;
  private final BertdConfig given;
  private transient BertdConfig base;
  private transient StageThread stage;
  private transient String stageOptions;
  private transient String name;

  protected BertdAsyncFunction(String task, BertdConfig config) {
    this.task = task;
    this.given = config;
  }

  @Override
  public void open(FunctionContext ctx) throws Exception {
    base = given == null ? new BertdConfig() : given.copy();
    for (String k : KEYS) {
      String v = ctx.getJobParameter("bertd." + k, null);
      if (v != null) base.set(k, v);
    }
    base.set("model.task", task);
    name = "bertd-" + task + "-" + ctx.getTaskInfo().getIndexOfThisSubtask();
  }

  public void eval(CompletableFuture<Collection<Row>> result, String text) {
    eval(result, text, null);
  }

  public void eval(CompletableFuture<Collection<Row>> result, String text, String options) {
    StageThread s;
    try {
      s = stage(options);
    } catch (RuntimeException | InterruptedException e) {
      result.completeExceptionally(e);
      return;
    }
    if (text == null) {
      result.complete(Collections.singletonList(error("NOT_A_STRING: the text is null")));
      return;
    }
    s.submit(text.getBytes(StandardCharsets.UTF_8)).whenComplete((c, err) -> {
      if (err != null) {
        result.completeExceptionally(err);
        return;
      }
      try {
        result.complete(Collections.singletonList(c.ok() ? toRow(JSON.readTree(c.result))
            : error(c.deadLetterReason() + ": " + c.error)));
      } catch (Exception e) {
        result.completeExceptionally(e);
      }
    });
  }

  /** The stage for these options: made on first use, remade if a call site's options differ. */
  private StageThread stage(String options) throws InterruptedException {
    String key = options == null ? "" : options;
    if (stage != null && key.equals(stageOptions)) return stage;
    if (stage != null) stage.close();
    BertdConfig c = base.copy();
    if (options != null) {
      for (String kv : options.split(";")) {
        if (kv.trim().isEmpty()) continue;
        int eq = kv.indexOf('=');
        if (eq < 0) throw new BertdException("bertd_" + task + " options: expected KEY=VALUE, got '"
            + kv.trim() + "'");
        c.set(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
      }
    }
    c.set("model.task", task);
    if (c.get("model.dir") == null) {
      throw new BertdException("bertd_" + task + ": no model: give 'model.dir=DIR' as the second "
          + "argument or the job parameter bertd.model.dir");
    }
    stage = new StageThread(c, name);
    stageOptions = key;
    return stage;
  }

  /** The task's result columns from bertd's result object, then the error column (null). */
  protected abstract Row toRow(JsonNode result);

  /** A row of nulls but for error. */
  protected abstract Row error(String message);

  @Override
  public void close() throws Exception {
    if (stage != null) stage.close();
    stage = null;
  }

  // helpers for the columns
  static Row labelScore(JsonNode n) {
    return n == null || n.isNull() ? null
        : Row.of(n.get("label").asText(), n.get("score").asDouble());
  }

  static Row[] labelScores(JsonNode a) {
    if (a == null) return new Row[0];
    Row[] out = new Row[a.size()];
    for (int i = 0; i < out.length; i++) out[i] = labelScore(a.get(i));
    return out;
  }

  static Row[] spans(JsonNode a, String labelKey) {
    if (a == null) return new Row[0];
    Row[] out = new Row[a.size()];
    for (int i = 0; i < out.length; i++) {
      JsonNode s = a.get(i);
      out[i] = Row.of(s.get(labelKey).asText(), s.get("text").asText(), s.get("start").asInt(),
          s.get("end").asInt(), s.get("score").asDouble());
    }
    return out;
  }

  static String[] strings(JsonNode a) {
    if (a == null) return new String[0];
    String[] out = new String[a.size()];
    for (int i = 0; i < out.length; i++) out[i] = a.get(i).asText();
    return out;
  }
}
