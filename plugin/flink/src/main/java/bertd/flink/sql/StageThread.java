package bertd.flink.sql;

import bertd.flink.BertdCompletion;
import bertd.flink.BertdConfig;
import bertd.flink.BertdStage;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One bertd stage driven by a thread of its own, for callers that hand in records from one
 * thread and want futures back (the async SQL functions): the stage's single host thread
 * submits what arrives and polls completions, so the records the runtime keeps in flight meet
 * in bertd's length buckets and run as batches.
 */
final class StageThread implements AutoCloseable {
  private static final class Request {
    final byte[] text;
    final CompletableFuture<BertdCompletion> done;

    Request(byte[] text, CompletableFuture<BertdCompletion> done) {
      this.text = text;
      this.done = done;
    }
  }

  private final LinkedBlockingQueue<Request> queue = new LinkedBlockingQueue<>();
  private final Thread thread;
  private final BertdStage stage;
  private volatile boolean stopping;
  private volatile String failure = "";

  StageThread(BertdConfig config, String name) {
    this.stage = BertdStage.create(config); // on the caller's thread: a bad config fails open()
    this.thread = new Thread(this::run, name);
    this.thread.setDaemon(true);
    this.thread.start();
  }

  String modelName() {
    return stage.modelName();
  }

  CompletableFuture<BertdCompletion> submit(byte[] text) {
    CompletableFuture<BertdCompletion> f = new CompletableFuture<>();
    if (stopping || !thread.isAlive()) {
      f.completeExceptionally(new IllegalStateException(
          stopping ? "bertd stage is closed" : "bertd stage stopped: " + failure));
    } else {
      queue.add(new Request(text, f));
    }
    return f;
  }

  private void run() {
    Map<Long, CompletableFuture<BertdCompletion>> waiting = new HashMap<>();
    long nextRef = 0;
    try {
      while (!stopping || !waiting.isEmpty()) {
        Request r = waiting.isEmpty() ? queue.poll(50, TimeUnit.MILLISECONDS) : queue.poll();
        while (r != null) {
          long ref = nextRef++;
          try {
            stage.submit(r.text, null, ref);
            waiting.put(ref, r.done);
          } catch (RuntimeException e) {
            r.done.completeExceptionally(e);
          }
          r = queue.poll();
        }
        if (!waiting.isEmpty()) {
          for (BertdCompletion c : stage.poll(2)) {
            CompletableFuture<BertdCompletion> f = waiting.remove(c.ref);
            if (f != null) f.complete(c);
          }
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      failure = String.valueOf(e.getMessage());
      for (CompletableFuture<BertdCompletion> f : waiting.values()) f.completeExceptionally(e);
      for (Request r; (r = queue.poll()) != null; ) r.done.completeExceptionally(e);
    } finally {
      stage.close();
    }
  }

  @Override
  public void close() throws InterruptedException {
    stopping = true;
    thread.join();
    for (Request r; (r = queue.poll()) != null; ) {
      r.done.completeExceptionally(new IllegalStateException("bertd stage is closed"));
    }
  }
}
