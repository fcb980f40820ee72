package bertd.flink;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A stage's model and batching settings: the `model:` and `batching:` nodes of a bertd YAML
 * pipeline, as the plugin's JSON config (bertd_plugin.h documents every key and default).
 *
 * <p>Settings are set by their dotted names, the same everywhere (job flags, SQL function
 * options, Flink job configuration): {@code model.dir}, {@code model.task},
 * {@code model.max_length}, {@code model.top_k}, {@code model.threshold},
 * {@code model.on_too_long}, {@code batching.max_batch_records}, {@code batching.buckets} =
 * {@code [16,32,64]}, ... Values are kept as given; the plugin checks them when the stage is
 * created and names the key of a bad one ("model.top_k: expected an integer").
 */
public final class BertdConfig implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final Pattern RAW =
      Pattern.compile("-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false|null|\\[.*\\]");

  private final LinkedHashMap<String, String> model = new LinkedHashMap<>();
  private final LinkedHashMap<String, String> batching = new LinkedHashMap<>();
  private String plugin;

  /** Sets one setting by its dotted name; "plugin" names the library file. */
  public BertdConfig set(String key, String value) {
    if (key.equals("plugin")) {
      plugin = value;
      return this;
    }
    int dot = key.indexOf('.');
    String section = dot < 0 ? "" : key.substring(0, dot);
    String name = key.substring(dot + 1);
    Map<String, String> into;
    if (section.equals("model")) {
      into = model;
    } else if (section.equals("batching")) {
      into = batching;
    } else {
      throw new BertdException(key + ": unknown setting (expected model.KEY, batching.KEY or plugin)");
    }
    into.put(name, json(name, value));
    return this;
  }

  /** Every entry whose key starts with prefix (e.g. "bertd."), the prefix removed. */
  public BertdConfig setAll(Map<String, String> settings, String prefix) {
    for (Map.Entry<String, String> e : settings.entrySet()) {
      if (e.getKey().startsWith(prefix)) set(e.getKey().substring(prefix.length()), e.getValue());
    }
    return this;
  }

  public String get(String key) {
    if (key.equals("plugin")) return plugin;
    if (key.startsWith("model.")) return unquote(model.get(key.substring(6)));
    if (key.startsWith("batching.")) return unquote(batching.get(key.substring(9)));
    return null;
  }

  public String task() {
    return get("model.task");
  }

  public String plugin() {
    return plugin;
  }

  public BertdConfig copy() {
    BertdConfig c = new BertdConfig();
    c.model.putAll(model);
    c.batching.putAll(batching);
    c.plugin = plugin;
    return c;
  }

  /** The plugin's JSON config text. */
  public String toJson() {
    StringBuilder b = new StringBuilder("{\"model\":");
    object(b, model);
    b.append(",\"batching\":");
    object(b, batching);
    return b.append('}').toString();
  }

  private static void object(StringBuilder b, Map<String, String> m) {
    b.append('{');
    boolean first = true;
    for (Map.Entry<String, String> e : m.entrySet()) {
      if (!first) b.append(',');
      first = false;
      b.append(quote(e.getKey())).append(':').append(e.getValue());
    }
    b.append('}');
  }

  /** Names and choices are JSON strings; numbers, booleans, null and [..] lists pass as written. */
  private static String json(String name, String value) {
    switch (name) {
      case "dir":
      case "task":
      case "truncation":
      case "tag_decoding":
      case "on_too_long":
      case "window_combine":
      case "precision":
      case "calibration":
        return quote(value);
      default:
        return RAW.matcher(value.trim()).matches() ? value.trim() : quote(value);
    }
  }

  private static String unquote(String json) {
    if (json == null) return null;
    if (json.startsWith("\"")) return json.substring(1, json.length() - 1).replace("\\\"", "\"")
        .replace("\\\\", "\\");
    return json;
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else if (c < 0x20) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.append('"').toString();
  }
}
