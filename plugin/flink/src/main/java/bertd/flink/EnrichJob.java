package bertd.flink;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

/**
 * The bertd enrichment job (scripts/flink-enrich.sh runs it on a local MiniCluster; the same
 * jar goes to `flink run` on a cluster):
 *
 * <pre>
 *   --model DIR --task TASK [model flags] --input FILE.jsonl        JSONL in, JSONL out (stdout)
 *   --model DIR --task TASK [model flags] --brokers B --topic IN --output-topic OUT
 *       --schema FILE.avsc [--dead-letter-topic DLQ]                 Kafka in, Kafka out
 * </pre>
 *
 * File mode writes each line back with the task's result added, exactly the shape of `bertd
 * TASK`, and a bad line as {"line": N, "error": "..."}. Kafka mode reads plain Avro records
 * of the schema, writes the daemon's enriched record to OUT with the same key (and partition)
 * and unenrichable records to DLQ with the daemon's headers; with checkpoints (default every
 * second) the Kafka sink is exactly-once (Kafka transactions committed on checkpoints).
 */
public final class EnrichJob {
  private EnrichJob() {}

  static final String USAGE =
      "usage: flink-enrich --model DIR --task classify|tag|joint|qa|embed|fill-mask|nsp|tokenize\n"
      + "         [--max-length N] [--top-k K] [--threshold P] [--truncation S] [--tag-decoding D]\n"
      + "         [--on-too-long truncate|dead_letter|window] [--window-stride N]\n"
      + "         [--window-combine mean|max] [--max-answer-tokens N] [--threads N]\n"
      + "         [--precision fp32|bf16|int8]\n"
      + "         [--set model.KEY=V|batching.KEY=V ...] [--plugin FILE.so]\n"
      + "         [--parallelism N] [--max-in-flight N] [--text-field F] [--pair-field F]\n"
      + "         [--batch-size N (file input)]\n"
      + "       ( --input FILE.jsonl\n"
      + "       | --brokers HOST:PORT --topic IN --output-topic OUT --schema FILE.avsc\n"
      + "         [--dead-letter-topic DLQ] [--group-id G] [--checkpoint-ms N] [--bounded]\n"
      + "         [--transactional-id-prefix P] [--at-least-once] [--same-partition]\n"
      + "         [--report-times]\n"
      + "         [--fail-once-after N --fail-marker FILE] )";

  /** Flags of `bertd TASK` / YAML model keys they set. */
  private static final Map<String, String> MODEL_FLAGS = new HashMap<>();

  static {
    String[][] f = {{"model", "model.dir"}, {"task", "model.task"},
        {"max-length", "model.max_length"}, {"top-k", "model.top_k"},
        {"threshold", "model.threshold"}, {"truncation", "model.truncation"},
        {"tag-decoding", "model.tag_decoding"}, {"on-too-long", "model.on_too_long"},
        {"window-stride", "model.window_stride"}, {"window-combine", "model.window_combine"},
        {"max-answer-tokens", "model.max_answer_tokens"}, {"threads", "model.threads"},
        {"precision", "model.precision"},
        {"plugin", "plugin"}};
    for (String[] kv : f) MODEL_FLAGS.put(kv[0], kv[1]);
  }

  /** Parsed command line. */
  static final class Args {
    final BertdConfig config = new BertdConfig();
    final Map<String, String> opt = new HashMap<>();
    /** File input forms the batches `bertd TASK` forms (fileDefaults). */
    boolean cliBatches;

    String get(String k, String def) {
      return opt.getOrDefault(k, def);
    }

    int getInt(String k, int def) {
      String v = opt.get(k);
      if (v == null) return def;
      try {
        return Integer.parseInt(v);
      } catch (NumberFormatException e) {
        throw new UsageException("--" + k + ": expected an integer, got '" + v + "'");
      }
    }
  }

  static final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UsageException(String m) {
      super(m);
    }
  }

  static Args parse(String[] argv) {
    Args a = new Args();
    for (int i = 0; i < argv.length; i++) {
      String s = argv[i];
      if (!s.startsWith("--")) throw new UsageException("unexpected argument '" + s + "'");
      String k = s.substring(2);
      if (k.equals("bounded") || k.equals("at-least-once") || k.equals("same-partition")
          || k.equals("report-times") || k.equals("help")) {
        a.opt.put(k, "true");
        continue;
      }
      if (i + 1 >= argv.length) throw new UsageException(s + " needs a value");
      String v = argv[++i];
      if (k.equals("on-too-long") && v.equals("error")) v = "dead_letter"; // bertd TASK's word
      if (MODEL_FLAGS.containsKey(k)) {
        a.config.set(MODEL_FLAGS.get(k), v);
      } else if (k.equals("set")) {
        int eq = v.indexOf('=');
        if (eq < 0) throw new UsageException("--set: expected KEY=VALUE, got '" + v + "'");
        a.config.set(v.substring(0, eq), v.substring(eq + 1));
      } else {
        a.opt.put(k, v);
      }
    }
    if (a.opt.containsKey("help")) return a;
    if (a.config.get("model.dir") == null) throw new UsageException("--model DIR is required");
    if (a.config.get("model.task") == null) throw new UsageException("--task TASK is required");
    if (!new File(a.config.get("model.dir")).isDirectory()) {
      throw new UsageException("--model " + a.config.get("model.dir") + ": not a directory");
    }
    return a;
  }

  public static void main(String[] argv) throws Exception {
    Args a;
    try {
      a = parse(argv);
      if (a.opt.containsKey("help")) {
        System.out.println(USAGE);
        return;
      }
      if (a.opt.containsKey("input") == a.opt.containsKey("brokers")) {
        throw new UsageException("give either --input FILE or --brokers (with --topic, "
            + "--output-topic, --schema)");
      }
    } catch (UsageException | BertdException e) {
      System.err.println("flink-enrich: " + e.getMessage());
      System.err.println(USAGE);
      System.exit(2);
      return;
    }
    int rc;
    try {
      if (a.opt.containsKey("input")) fileDefaults(a);
      // fail early, with bertd's own message, on a bad setting (the job would only say so from
      // inside a task, wrapped in Flink's exceptions)
      BertdStage.checkConfig(a.config);
      rc = a.opt.containsKey("input") ? runFile(a) : runKafka(a);
    } catch (BertdException | UsageException e) {
      System.err.println("flink-enrich: " + e.getMessage());
      rc = 2;
    }
    System.exit(rc);
  }

  private static StreamExecutionEnvironment environment(Args a, Configuration conf) {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(a.getInt("parallelism", 1));
    return env;
  }

  // ---- file in, JSONL out -------------------------------------------------------------------

  /** Only the file mode is read as `bertd TASK` reads its input: the model's own max_length
   *  unless --max-length says otherwise (the plugin caps a larger value to the model's), and,
   *  at parallelism 1 with no batching settings, the batches `bertd TASK` forms: every
   *  --batch-size non-blank lines (good or bad) make one batch of their good records, run in
   *  input order, one bucket for every length. The same records in the same batch shape give
   *  byte-identical results. */
  static void fileDefaults(Args a) {
    int batchSize = a.getInt("batch-size", 32);
    if (batchSize < 1 || batchSize > 4096) {
      throw new UsageException("--batch-size: expected an integer in 1..4096, got " + batchSize);
    }
    a.cliBatches = a.getInt("parallelism", 1) == 1
        && a.config.get("batching.max_batch_tokens") == null
        && a.config.get("batching.max_batch_records") == null
        && a.config.get("batching.max_wait_ms") == null
        && a.config.get("batching.buckets") == null;
    if (a.config.get("model.max_length") == null) {
      int max = BertdStage.modelMaxLength(a.config.get("model.dir"), a.config.plugin());
      if (max > 0) {
        a.config.set("model.max_length", Integer.toString(max));
      } else { // an older plugin: ask for more, it is capped to the model's own
        a.config.set("model.max_length", "1000000000");
        if (a.config.get("batching.max_batch_tokens") == null) {
          a.config.set("batching.max_batch_tokens", "1000000000");
        }
      }
    }
    if (a.cliBatches) {
      a.config.set("batching.buckets", "[" + a.config.get("model.max_length") + "]");
      long tokens = Math.min(1000000000L,
          (long) batchSize * Long.parseLong(a.config.get("model.max_length")));
      a.config.set("batching.max_batch_tokens", Long.toString(tokens));
      a.config.set("batching.max_batch_records", Integer.toString(batchSize));
      a.config.set("batching.max_wait_ms", "1000000000");
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  static int runFile(Args a) throws Exception {
    String input = a.get("input", "-");
    String textField = a.get("text-field", "text");
    String pairField = a.get("pair-field", "text_pair");
    String task = a.config.task();
    List<String> lines = new ArrayList<>();
    try (BufferedReader in = input.equals("-")
        ? new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))
        : Files.newBufferedReader(Paths.get(input), StandardCharsets.UTF_8)) {
      for (String l; (l = in.readLine()) != null; ) lines.add(l);
    } catch (IOException e) {
      throw new UsageException("--input " + input + ": " + KafkaIO.oneLine(e));
    }
    // Every line gets an answer in its place: parse errors now, the rest from the job.
    String[] answers = new String[lines.size()];
    ObjectNode[] objects = new ObjectNode[lines.size()];
    List<BertdRecord> records = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      String l = lines.get(i);
      if (l.endsWith("\r")) l = l.substring(0, l.length() - 1);
      if (l.isEmpty()) continue;
      String err = null;
      JsonNode node = null;
      try {
        node = JSON.readTree(l);
      } catch (JsonProcessingException e) {
        err = "not valid JSON at column " + e.getLocation().getColumnNr() + ": "
            + e.getOriginalMessage();
      }
      if (err == null && !(node instanceof ObjectNode)) {
        err = "expected a JSON object, got " + kind(node);
      }
      if (err == null) {
        JsonNode t = node.get(textField);
        JsonNode p = node.get(pairField);
        if (t == null) {
          err = "field '" + textField + "' is missing";
        } else if (!t.isTextual()) {
          err = "field '" + textField + "' must be a string, got " + kind(t);
        } else if (p != null && !p.isTextual() && !p.isNull()) {
          err = "field '" + pairField + "' must be a string or null";
        } else if (task.equals("qa") && (p == null || !p.isTextual())) {
          err = "field '" + pairField + "' is missing: qa reads the question from '" + textField
              + "' and the context from '" + pairField + "'";
        } else {
          BertdRecord r = new BertdRecord();
          r.line = i + 1;
          r.id = Long.toString(r.line);
          r.text = t.textValue().getBytes(StandardCharsets.UTF_8);
          r.pair = p != null && p.isTextual() ? p.textValue().getBytes(StandardCharsets.UTF_8)
              : null;
          records.add(r);
          objects[i] = (ObjectNode) node;
        }
      }
      if (err != null) answers[i] = errorLine(i + 1, err);
    }
    int batchSize = a.getInt("batch-size", 32);
    if (a.cliBatches) {
      int queued = 0;
      BertdRecord lastGood = null;
      int r = 0;
      for (int i = 0; i < lines.size(); i++) {
        String l = lines.get(i);
        if (l.isEmpty() || l.equals("\r")) continue;
        if (r < records.size() && records.get(r).line == i + 1) lastGood = records.get(r++);
        if (++queued == batchSize) {
          if (lastGood != null) lastGood.flushAfter = true;
          queued = 0;
          lastGood = null;
        }
      }
      if (lastGood != null) lastGood.flushAfter = true;
    }
    if (!records.isEmpty()) {
      StreamExecutionEnvironment env = environment(a, new Configuration());
      DataStream<BertdRecord> src =
          env.fromData(TypeInformation.of(BertdRecord.class), records.toArray(new BertdRecord[0]));
      if (env.getParallelism() > 1) src = src.rebalance();
      SingleOutputStreamOperator<BertdRecord> enriched = BertdOperator.apply(src,
          new BertdOperator(a.config, a.getInt("max-in-flight", 256), 5)
              .reportTimes(a.opt.containsKey("report-times")));
      DataStream<BertdRecord> all =
          enriched.union(enriched.getSideOutput(BertdOperator.DEAD_LETTERS));
      long t0 = System.nanoTime();
      try (org.apache.flink.util.CloseableIterator<BertdRecord> it =
          all.executeAndCollect("bertd " + task + " " + input)) {
        // exactly one answer per record: stop at the last, before the job's end races the
        // collect sink's fetcher
        for (int n = 0; n < records.size() && it.hasNext(); n++) {
          BertdRecord r = it.next();
          int i = (int) r.line - 1;
          answers[i] = r.reason == null ? merge(objects[i], r.result)
              : errorLine(r.line, r.error);
        }
      }
      double s = (System.nanoTime() - t0) / 1e9;
      System.err.printf("flink-enrich: %d records in %.2f s (%.1f records/s, parallelism %d, "
          + "job start included)%n", records.size(), s, records.size() / s, env.getParallelism());
    }
    long bad = 0;
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    for (int i = 0; i < answers.length; i++) {
      if (answers[i] == null) continue; // blank line
      if (answers[i].startsWith("{\"line\":")) {
        bad++;
        JsonNode e = JSON.readTree(answers[i]);
        System.err.println("flink-enrich " + task + ": " + input + ":" + (i + 1) + ": "
            + e.get("error").textValue());
      }
      out.println(answers[i]);
    }
    out.flush();
    if (out.checkError()) {
      System.err.println("flink-enrich " + task + ": could not write the output");
      return 1;
    }
    if (bad > 0) {
      System.err.println("flink-enrich " + task + ": " + bad + " of " + lines.size()
          + " lines had errors");
      return 1;
    }
    return 0;
  }

  /** The input object with the result's members added after its own, as `bertd TASK` does;
   *  the result's text is kept as bertd wrote it (8 significant digits). */
  static String merge(ObjectNode in, String result) throws JsonProcessingException {
    JsonNode res = JSON.readTree(result);
    ObjectNode copy = in.deepCopy();
    // a member the result also has takes the result's value in its own place
    List<String> replaced = new ArrayList<>();
    for (Iterator<String> it = res.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (copy.has(k)) replaced.add(k);
    }
    if (replaced.isEmpty()) {
      String head = JSON.writeValueAsString(copy);
      String body = result.substring(1, result.length() - 1);
      if (body.isEmpty()) return head;
      return head.equals("{}") ? result : head.substring(0, head.length() - 1) + "," + body + "}";
    }
    for (String k : replaced) copy.set(k, res.get(k));
    for (Iterator<Map.Entry<String, JsonNode>> it = res.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!replaced.contains(e.getKey())) copy.set(e.getKey(), e.getValue());
    }
    return JSON.writeValueAsString(copy);
  }

  static String errorLine(long line, String error) {
    return "{\"line\":" + line + ",\"error\":" + BertdConfig.quote(error) + "}";
  }

  private static String kind(JsonNode n) {
    if (n == null || n.isNull()) return "null";
    if (n.isObject()) return "an object";
    if (n.isArray()) return "an array";
    if (n.isTextual()) return "a string";
    if (n.isNumber()) return "a number";
    if (n.isBoolean()) return "a boolean";
    return "unknown";
  }

  // ---- Kafka in, Kafka out ------------------------------------------------------------------

  static int runKafka(Args a) throws Exception {
    String brokers = a.get("brokers", null);
    String topic = require(a, "topic");
    String outTopic = require(a, "output-topic");
    String schemaFile = require(a, "schema");
    String dlq = a.get("dead-letter-topic", null);
    String schemaJson;
    try {
      schemaJson = new String(Files.readAllBytes(Paths.get(schemaFile)), StandardCharsets.UTF_8);
      org.apache.avro.Schema in = new org.apache.avro.Schema.Parser().parse(schemaJson);
      EnrichedAvro.enrichedSchema(in);
      if (in.getField(a.get("text-field", "text")) == null) {
        throw new BertdException("the record has no field '" + a.get("text-field", "text")
            + "' (--text-field)");
      }
    } catch (IOException | RuntimeException e) {
      throw new UsageException("--schema " + schemaFile + ": " + KafkaIO.oneLine(e));
    }
    boolean exactlyOnce = !a.opt.containsKey("at-least-once");
    long checkpointMs = a.getInt("checkpoint-ms", 1000);

    Configuration conf = new Configuration();
    conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofSeconds(1));
    StreamExecutionEnvironment env = environment(a, conf);
    env.enableCheckpointing(checkpointMs);
    // every record is a new object from the source on, and the operator keeps only its own:
    // chained operators may hand records on without copying them
    env.getConfig().enableObjectReuse();

    KafkaSourceBuilder<BertdRecord> sb = KafkaSource.<BertdRecord>builder()
        .setBootstrapServers(brokers)
        .setTopics(topic)
        .setGroupId(a.get("group-id", "bertd-flink"))
        .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
        .setDeserializer(new KafkaIO.Reader(schemaJson, a.get("text-field", "text"),
            a.get("pair-field", "text_pair")))
        .setProperty("isolation.level", "read_committed")
        .setProperty("commit.offsets.on.checkpoint", "true");
    if (a.opt.containsKey("bounded")) sb.setBounded(OffsetsInitializer.latest());
    DataStream<BertdRecord> in =
        env.fromSource(sb.build(), WatermarkStrategy.noWatermarks(), "kafka " + topic);

    SingleOutputStreamOperator<BertdRecord> enriched = BertdOperator.apply(in,
        new BertdOperator(a.config, a.getInt("max-in-flight", 256), 5)
            .reportTimes(a.opt.containsKey("report-times")));
    DataStream<BertdRecord> out = enriched;
    if (a.opt.containsKey("fail-once-after")) {
      out = out.map(new FailOnce(a.getInt("fail-once-after", 0), require(a, "fail-marker")))
          .name("fail once (test)");
    }
    String prefix = a.get("transactional-id-prefix", "bertd-flink-" + outTopic);
    DeliveryGuarantee g = exactlyOnce ? DeliveryGuarantee.EXACTLY_ONCE
        : DeliveryGuarantee.AT_LEAST_ONCE;
    out.sinkTo(KafkaSink.<BertdRecord>builder()
        .setBootstrapServers(brokers)
        .setRecordSerializer(new KafkaIO.Writer(outTopic, schemaJson, a.config,
            a.opt.containsKey("same-partition")))
        .setDeliveryGuarantee(g)
        .setTransactionalIdPrefix(prefix)
        .setKafkaProducerConfig(producerProps())
        .build()).name("kafka " + outTopic);
    if (dlq != null) {
      enriched.getSideOutput(BertdOperator.DEAD_LETTERS).sinkTo(KafkaSink.<BertdRecord>builder()
          .setBootstrapServers(brokers)
          .setRecordSerializer(new KafkaIO.DeadLetterWriter(dlq))
          .setDeliveryGuarantee(g)
          .setTransactionalIdPrefix(prefix + "-dlq")
          .setKafkaProducerConfig(producerProps())
          .build()).name("kafka " + dlq);
    }
    long t0 = System.nanoTime();
    env.execute("bertd " + a.config.task() + " " + topic + " -> " + outTopic);
    System.err.printf("flink-enrich: job finished in %.2f s (parallelism %d)%n",
        (System.nanoTime() - t0) / 1e9, env.getParallelism());
    return 0;
  }

  private static Properties producerProps() {
    Properties p = new Properties();
    // within the broker's transaction.max.timeout.ms (15 minutes by default)
    p.setProperty("transaction.timeout.ms", "600000");
    return p;
  }

  private static String require(Args a, String k) {
    String v = a.opt.get(k);
    if (v == null) throw new UsageException("--" + k + " is required with --brokers");
    return v;
  }

  /**
   * For the failure test: throws once, after n records and at least one completed checkpoint,
   * so that Flink restores the job from that checkpoint. The marker file makes "once" hold
   * across the restart (and across task managers).
   */
  static final class FailOnce extends RichMapFunction<BertdRecord, BertdRecord>
      implements CheckpointListener, CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    private final int after;
    private final String marker;
    private transient long seen;
    private transient boolean checkpointed;

    FailOnce(int after, String marker) {
      this.after = after;
      this.marker = marker;
    }

    @Override
    public void open(OpenContext ctx) {
      seen = 0;
      checkpointed = false;
    }

    @Override
    public BertdRecord map(BertdRecord r) throws Exception {
      if (++seen >= after && checkpointed && new File(marker).createNewFile()) {
        throw new RuntimeException("injected failure after " + seen + " records (test)");
      }
      return r;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      checkpointed = true;
    }

    @Override
    public void snapshotState(FunctionSnapshotContext ctx) {}

    /** Says in the marker file which checkpoint the restarted task was restored from. */
    @Override
    public void initializeState(FunctionInitializationContext ctx) throws IOException {
      if (ctx.isRestored()) {
        Files.write(Paths.get(marker), ("restored from checkpoint "
            + ctx.getRestoredCheckpointId().orElse(-1L) + "\n").getBytes(StandardCharsets.UTF_8),
            java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
      }
    }
  }
}
