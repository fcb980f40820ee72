package bertd.flink;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One bertd enrichment stage (a bertd_plugin) in this JVM: texts in, completions out.
 *
 * <p>A thin binding of bertd_plugin.h over JNA. The model, the length buckets and the worker
 * thread are bertd's; this class copies texts in and results out and keeps nothing else. Like
 * the C API, one stage is driven by one thread (submit, poll, flush, close).
 *
 * <p>The native library is libbertd_plugin.so, found by JNA on {@code jna.library.path} or
 * {@code LD_LIBRARY_PATH}, or at the file named by the system property {@code bertd.plugin}
 * (or the environment variable {@code BERTD_PLUGIN}). Loading checks that it implements ABI
 * {@value BertdNative#ABI_VERSION}.{@value BertdNative#ABI_MINOR} or a later minor.
 */
public final class BertdStage implements AutoCloseable {
  private static final int ERR = 512;
  private static final Map<String, BertdNative> LOADED = new HashMap<>();

  private final BertdNative lib;
  private Pointer handle;
  private final String modelName;
  private final String modelChecksum;
  private final BertdNative.Completion[] done;
  private final BertdNative.Timing[] timing;
  private final byte[] submitErr = new byte[ERR];
  private final BertdNative.SizeT errSize = new BertdNative.SizeT(ERR);

  private BertdStage(BertdNative lib, Pointer handle, int pollMax) {
    this.lib = lib;
    this.handle = handle;
    byte[] name = new byte[256];
    byte[] sum = new byte[128];
    if (lib.bertd_plugin_model_info(handle, name, new BertdNative.SizeT(name.length), sum,
        new BertdNative.SizeT(sum.length)) != 0) {
      name[0] = 0;
      sum[0] = 0;
    }
    this.modelName = Native.toString(name, "UTF-8");
    this.modelChecksum = Native.toString(sum, "UTF-8");
    this.done = (BertdNative.Completion[]) new BertdNative.Completion().toArray(pollMax);
    this.timing = (BertdNative.Timing[]) new BertdNative.Timing().toArray(pollMax);
  }

  /** Loads the plugin library (once per location) and checks its ABI version. */
  static synchronized BertdNative load(String location) {
    String where = location(location);
    BertdNative lib = LOADED.get(where);
    if (lib != null) return lib;
    try {
      lib = Native.load(where, BertdNative.class,
          Collections.singletonMap(com.sun.jna.Library.OPTION_STRING_ENCODING, "UTF-8"));
    } catch (UnsatisfiedLinkError e) {
      throw new BertdException("cannot load the bertd plugin '" + where + "' (set -Djna.library.path"
          + " to the folder of libbertd_plugin.so, or -Dbertd.plugin to its file): "
          + firstLine(e.getMessage()));
    }
    byte[] err = new byte[ERR];
    if (lib.bertd_plugin_abi_check(BertdNative.ABI_VERSION, err, new BertdNative.SizeT(ERR))
        != 0) {
      throw new BertdException("bertd plugin '" + where + "': " + Native.toString(err, "UTF-8"));
    }
    // ABI 1.1 added bertd_plugin_poll_timed; a 1.0 plugin passes abi_check but lacks it.
    try {
      NativeLibrary.getInstance(where).getFunction("bertd_plugin_poll_timed");
    } catch (UnsatisfiedLinkError e) {
      throw new BertdException("bertd plugin '" + where + "' implements ABI "
          + lib.bertd_plugin_abi_version() + ".0; this binding needs "
          + BertdNative.ABI_VERSION + "." + BertdNative.ABI_MINOR + " (bertd_plugin_poll_timed)");
    }
    LOADED.put(where, lib);
    return lib;
  }

  /**
   * Checks a configuration as creating a stage would, without loading the model (ABI 1.2's
   * bertd_plugin_config_check; with an older plugin only the library and its ABI are checked).
   * Throws BertdException with bertd's one-line message ("model.top_k: ...").
   */
  public static void checkConfig(BertdConfig config) {
    BertdNative lib = load(config.plugin());
    try {
      NativeLibrary.getInstance(location(config.plugin())).getFunction("bertd_plugin_config_check");
    } catch (UnsatisfiedLinkError e) {
      return;
    }
    byte[] err = new byte[ERR];
    if (lib.bertd_plugin_config_check(config.toJson(), null, new BertdNative.SizeT(0), err,
        new BertdNative.SizeT(ERR)) != 0) {
      throw new BertdException("bertd: " + Native.toString(err, "UTF-8"));
    }
  }

  private static String location(String given) {
    String where = given;
    if (where == null || where.isEmpty()) where = System.getProperty("bertd.plugin");
    if (where == null || where.isEmpty()) where = System.getenv("BERTD_PLUGIN");
    if (where == null || where.isEmpty()) where = "bertd_plugin";
    return where;
  }

  /** A stage from a plugin configuration (bertd_plugin.h's JSON: model and batching). */
  public static BertdStage create(BertdConfig config) {
    return create(config.toJson(), config.plugin(), 256);
  }

  /** A stage from the plugin's JSON config text; pollMax: completions taken per poll. */
  public static BertdStage create(String configJson, String pluginLocation, int pollMax) {
    BertdNative lib = load(pluginLocation);
    byte[] err = new byte[ERR];
    PointerByReference out = new PointerByReference();
    if (lib.bertd_plugin_create(configJson, out, err, new BertdNative.SizeT(ERR)) != 0) {
      throw new BertdException("bertd: " + Native.toString(err, "UTF-8"));
    }
    return new BertdStage(lib, out.getValue(), pollMax);
  }

  /**
   * The model's own limit of tokens per sequence: a stage of the tokenize task (no forward
   * pass, no warm-up) asked for more is capped to it, and ABI 1.3's bertd_plugin_model_json
   * says what it became. -1 when the plugin is older than 1.3.
   */
  public static int modelMaxLength(String modelDir, String pluginLocation) {
    BertdNative lib = load(pluginLocation);
    try {
      NativeLibrary.getInstance(location(pluginLocation)).getFunction("bertd_plugin_model_json");
    } catch (UnsatisfiedLinkError e) {
      return -1;
    }
    BertdConfig c = new BertdConfig().set("model.dir", modelDir).set("model.task", "tokenize")
        .set("model.max_length", "1000000000").set("batching.max_batch_tokens", "1000000000")
        .set("batching.buckets", "[1000000000]");
    if (pluginLocation != null) c.set("plugin", pluginLocation);
    try (BertdStage s = create(c.toJson(), pluginLocation, 1)) {
      byte[] buf = new byte[4096];
      if (lib.bertd_plugin_model_json(s.handle, buf, new BertdNative.SizeT(buf.length)) < 0) {
        return -1;
      }
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"max_length\":\\s*(\\d+)")
          .matcher(Native.toString(buf, "UTF-8"));
      return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }
  }

  /** The model's name (its directory's base name), as the daemon writes it into records. */
  public String modelName() {
    return modelName;
  }

  /** The model's weights checksum. */
  public String modelChecksum() {
    return modelChecksum;
  }

  /**
   * Submits one record (UTF-8 bytes, possibly invalid: bertd then completes it as
   * invalid_input) with the caller's ref, returned in its completion. pair: null for none.
   * Every accepted record yields exactly one completion.
   */
  public void submit(byte[] text, byte[] pair, long ref) {
    ensureOpen();
    byte[] err = submitErr;
    // JNA copies a byte[] into native memory for the call; the plugin copies it again. An
    // empty array is passed as a 1-byte buffer so the pointer is never NULL.
    byte[] t = text.length == 0 ? new byte[1] : text;
    byte[] p = pair == null ? null : (pair.length == 0 ? new byte[1] : pair);
    if (lib.bertd_plugin_submit(handle, t, new BertdNative.SizeT(text.length), p,
        new BertdNative.SizeT(pair == null ? 0 : pair.length), new Pointer(ref), err,
        errSize) != 0) {
      throw new BertdException("bertd: submit: " + Native.toString(err, "UTF-8"));
    }
  }

  /** submit() of Java strings (always valid UTF-8). */
  public void submit(String text, String pair, long ref) {
    submit(text.getBytes(StandardCharsets.UTF_8),
        pair == null ? null : pair.getBytes(StandardCharsets.UTF_8), ref);
  }

  /**
   * Finished records, at most as many as this stage takes per poll. Waits up to timeoutMs for
   * the first (0: no wait; -1: until one is ready or none is in flight). Strings are copied.
   */
  public List<BertdCompletion> poll(int timeoutMs) {
    ensureOpen();
    // Raw pointers, not Structure[] arguments: JNA would write and read back every element of
    // the arrays on each call, where only the n filled ones matter.
    int n = lib.bertd_plugin_poll_timed(handle, done[0].getPointer(), timing[0].getPointer(),
        done.length, timeoutMs);
    List<BertdCompletion> out = new ArrayList<>(Math.max(n, 0));
    for (int i = 0; i < n; i++) {
      BertdNative.Completion c = done[i];
      c.read();
      timing[i].read();
      String result = null;
      if (c.result != null) {
        byte[] b = c.result.getByteArray(0, (int) c.result_len.longValue());
        result = new String(b, StandardCharsets.UTF_8);
      }
      String error = c.error == null ? "" : c.error.getString(0, "UTF-8");
      out.add(new BertdCompletion(Pointer.nativeValue(c.ref), c.reason,
          reasonName(c.reason), error, result, c.tokens, timing[i].queue_ms,
          timing[i].model_ms));
    }
    return out;
  }

  private final Map<Integer, String> reasonNames = new HashMap<>();

  private String reasonName(int reason) {
    return reasonNames.computeIfAbsent(reason, lib::bertd_plugin_reason_name);
  }

  /** Runs every waiting bucket now and waits for all submitted records to be ready. */
  public void flush(int timeoutMs) {
    ensureOpen();
    if (lib.bertd_plugin_flush(handle, timeoutMs) != 0) {
      throw new BertdException("bertd: flush: not done within " + timeoutMs + " ms");
    }
  }

  /** Records submitted and not yet returned by poll. */
  public int inFlight() {
    ensureOpen();
    return lib.bertd_plugin_in_flight(handle);
  }

  @Override
  public void close() {
    if (handle != null) {
      lib.bertd_plugin_destroy(handle);
      handle = null;
    }
  }

  private void ensureOpen() {
    if (handle == null) throw new IllegalStateException("bertd stage is closed");
  }

  private static String firstLine(String s) {
    if (s == null) return "";
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

}
