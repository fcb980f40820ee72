package bertd.flink;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.OutputTag;

/**
 * The bertd stage as a Flink operator: each subtask feeds its records through one bertd stage
 * (one libbertd_plugin instance, its own worker thread and length buckets).
 *
 * <ul>
 *   <li>Up to {@code maxInFlight} records are submitted and not yet emitted; bertd's length
 *       buckets form the model batches from them. When the bound is reached the task thread
 *       waits for completions, which backpressures the source.</li>
 *   <li>Results are emitted in the subtask's input order (so per key and per Kafka partition),
 *       with the input record's timestamp.</li>
 *   <li>Before a checkpoint barrier is passed on ({@link #prepareSnapshotPreBarrier}) and at end
 *       of input, every in-flight record is flushed and emitted: a checkpoint never holds a
 *       record that was taken from the input but not emitted, so no operator state is needed.</li>
 *   <li>A record bertd cannot enrich goes to {@link #DEAD_LETTERS} with its reason.</li>
 * </ul>
 *
 * <p>Every call into the stage is on the task thread (processElement, timers, snapshots), which
 * is the one host thread bertd_plugin.h asks for.
 */
public class BertdOperator extends AbstractStreamOperator<BertdRecord>
    implements OneInputStreamOperator<BertdRecord, BertdRecord>, BoundedOneInput {
  private static final long serialVersionUID = 1L;

  /** Records bertd (or the job) could not enrich, with reason and error set. */
  public static final OutputTag<BertdRecord> DEAD_LETTERS =
      new OutputTag<>("bertd-dead-letters", TypeInformation.of(BertdRecord.class));

  private final BertdConfig config;
  private final int maxInFlight;
  private final long pollIntervalMs;

  private transient BertdStage stage;
  /** Submitted, not yet emitted, in input order. */
  private transient ArrayDeque<Pending> pending;
  private transient Map<Long, Pending> byRef;
  private transient long nextRef;
  /** For --report-times: wall-clock ms of the first record in and the last one out. */
  private boolean reportTimes;
  private transient long firstInMs;
  private transient long lastOutMs;
  private transient long emitted;
  private transient long drains;
  private transient long drainNanos;
  private transient long waitNanos;

  private static final class Pending {
    final StreamRecord<BertdRecord> element;
    boolean done;

    Pending(StreamRecord<BertdRecord> element) {
      this.element = element;
    }
  }

  /**
   * @param maxInFlight records a subtask holds at most (submitted, not emitted)
   * @param pollIntervalMs how often completions are collected while no input arrives (bertd's
   *     max_wait_ms runs a bucket; this picks its results up)
   */
  public BertdOperator(BertdConfig config, int maxInFlight, long pollIntervalMs) {
    if (maxInFlight < 1) throw new IllegalArgumentException("maxInFlight must be at least 1");
    this.config = config;
    this.maxInFlight = maxInFlight;
    this.pollIntervalMs = Math.max(1, pollIntervalMs);
  }

  /** At finish, writes one line to stderr: records, first in and last out (wall-clock ms). */
  public BertdOperator reportTimes(boolean on) {
    this.reportTimes = on;
    return this;
  }

  /** stream -> enriched records; dead letters through getSideOutput(DEAD_LETTERS). */
  public static SingleOutputStreamOperator<BertdRecord> apply(DataStream<BertdRecord> stream,
      BertdConfig config, int maxInFlight, long pollIntervalMs) {
    return apply(stream, new BertdOperator(config, maxInFlight, pollIntervalMs));
  }

  public static SingleOutputStreamOperator<BertdRecord> apply(DataStream<BertdRecord> stream,
      BertdOperator op) {
    return stream.transform("bertd " + op.config.task(), TypeInformation.of(BertdRecord.class),
        op);
  }

  @Override
  public void open() throws Exception {
    super.open();
    pending = new ArrayDeque<>();
    byRef = new HashMap<>();
    stage = BertdStage.create(config);
    scheduleTimer();
  }

  private void scheduleTimer() {
    long now = getProcessingTimeService().getCurrentProcessingTime();
    getProcessingTimeService().registerTimer(now + pollIntervalMs, t -> {
      collect(0);
      scheduleTimer();
    });
  }

  @Override
  public void processElement(StreamRecord<BertdRecord> element) throws Exception {
    BertdRecord r = element.getValue();
    if (firstInMs == 0) firstInMs = System.currentTimeMillis();
    // the runtime may reuse the StreamRecord wrapper (object reuse): keep one of our own
    Pending p = new Pending(element.hasTimestamp()
        ? new StreamRecord<>(r, element.getTimestamp()) : new StreamRecord<>(r));
    pending.add(p);
    if (r.reason != null || r.text == null) {
      // already a dead letter (decoding failed): it keeps its place in the order
      if (r.reason == null) r.deadLetter("MISSING_FIELD", "no text to enrich");
      p.done = true;
    } else {
      long ref = nextRef++;
      try {
        stage.submit(r.text, r.pair, ref);
        byRef.put(ref, p);
      } catch (BertdException e) {
        r.deadLetter("MODEL_FAILED", e.getMessage());
        p.done = true;
      }
    }
    if (r.flushAfter && !byRef.isEmpty()) stage.flush(-1);
    collect(0);
    if (pending.size() >= maxInFlight) {
      long t0 = System.nanoTime();
      while (pending.size() >= maxInFlight) collect(100);
      waitNanos += System.nanoTime() - t0;
    }
  }

  /** Takes finished records from bertd (waiting up to timeoutMs) and emits the ready prefix. */
  private void collect(int timeoutMs) {
    if (!byRef.isEmpty()) {
      List<BertdCompletion> done = stage.poll(timeoutMs);
      for (BertdCompletion c : done) {
        Pending p = byRef.remove(c.ref);
        if (p == null) continue;
        BertdRecord r = p.element.getValue();
        r.tokens = c.tokens;
        r.model = stage.modelName();
        r.checksum = stage.modelChecksum();
        r.queueMs = c.queueMs;
        r.modelMs = c.modelMs;
        if (c.ok()) {
          r.result = c.result;
        } else {
          r.deadLetter(c.deadLetterReason(), c.error);
        }
        p.done = true;
      }
    }
    while (!pending.isEmpty() && pending.peekFirst().done) {
      StreamRecord<BertdRecord> el = pending.pollFirst().element;
      emitted++;
      lastOutMs = System.currentTimeMillis();
      if (el.getValue().reason == null) {
        output.collect(el);
      } else {
        output.collect(DEAD_LETTERS, el);
      }
    }
  }

  /** Runs every waiting bucket and emits every record taken so far. */
  private void drain() {
    if (stage == null) return;
    long t0 = System.nanoTime();
    if (!byRef.isEmpty()) stage.flush(-1);
    while (!pending.isEmpty()) collect(-1);
    drains++;
    drainNanos += System.nanoTime() - t0;
  }

  @Override
  public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
    super.prepareSnapshotPreBarrier(checkpointId);
    drain();
  }

  @Override
  public void endInput() {
    drain();
  }

  @Override
  public void finish() throws Exception {
    drain();
    if (reportTimes) {
      System.err.printf("bertd-flink: subtask %d: %d records, first in at %d ms, last out at %d"
          + " ms; %d drains (checkpoints, end) took %.0f ms, waiting at max-in-flight %.0f ms%n",
          getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(), emitted, firstInMs,
          lastOutMs, drains, drainNanos / 1e6, waitNanos / 1e6);
    }
    super.finish();
  }

  @Override
  public void close() throws Exception {
    try {
      if (stage != null) stage.close();
      stage = null;
    } finally {
      super.close();
    }
  }
}
