package bertd.flink;

import com.sun.jna.IntegerType;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.PointerByReference;

/**
 * The C ABI of bertd_plugin.h as JNA sees it. Only {@link BertdStage} calls it: everything here
 * mirrors the header one to one (names, argument order, struct layouts), nothing more.
 */
interface BertdNative extends Library {
  /** BERTD_PLUGIN_ABI_VERSION this binding was written against. */
  int ABI_VERSION = 1;
  /** BERTD_PLUGIN_ABI_MINOR it needs: poll_timed and bertd_plugin_timing are 1.1. */
  int ABI_MINOR = 1;

  /** size_t, whatever its width on this platform. */
  final class SizeT extends IntegerType {
    private static final long serialVersionUID = 1L;

    public SizeT() {
      this(0);
    }

    public SizeT(long value) {
      super(Native.SIZE_T_SIZE, value, true);
    }
  }

  /** bertd_plugin_completion; the strings stay the plugin's until the next poll. */
  @Structure.FieldOrder({"ref", "reason", "error", "result", "result_len", "tokens", "latency_ms"})
  class Completion extends Structure {
    public Pointer ref;
    public int reason;
    public Pointer error;
    public Pointer result;
    public SizeT result_len;
    public int tokens;
    public double latency_ms;
  }

  /** bertd_plugin_timing (ABI 1.1). */
  @Structure.FieldOrder({"queue_ms", "model_ms"})
  class Timing extends Structure {
    public double queue_ms;
    public double model_ms;
  }

  int bertd_plugin_abi_version();

  int bertd_plugin_abi_check(int hostAbiVersion, byte[] errstr, SizeT errstrSize);

  int bertd_plugin_create(String configJson, PointerByReference out, byte[] errstr,
      SizeT errstrSize);

  void bertd_plugin_destroy(Pointer p);

  int bertd_plugin_submit(Pointer p, byte[] text, SizeT len, byte[] textPair, SizeT pairLen,
      Pointer ref, byte[] errstr, SizeT errstrSize);

  /** out and timing: the first elements of arrays made by Structure.toArray (contiguous
   *  native memory); only the n elements the call filled are read back, by the caller. */
  int bertd_plugin_poll_timed(Pointer p, Pointer out, Pointer timing, int max, int timeoutMs);

  int bertd_plugin_flush(Pointer p, int timeoutMs);

  /** ABI 1.2: checks a config without loading the model (may be absent from a 1.1 plugin). */
  int bertd_plugin_config_check(String configJson, byte[] effective, SizeT effectiveSize,
      byte[] errstr, SizeT errstrSize);

  int bertd_plugin_in_flight(Pointer p);

  int bertd_plugin_model_info(Pointer p, byte[] name, SizeT nameSize, byte[] checksum,
      SizeT checksumSize);

  String bertd_plugin_reason_name(int reason);

  /** ABI 1.3: the loaded model as JSON (name, checksum, task, precision, max_length). */
  int bertd_plugin_model_json(Pointer p, byte[] buf, SizeT size);
}
