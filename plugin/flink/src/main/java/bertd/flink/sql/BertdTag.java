package bertd.flink.sql;

import bertd.flink.BertdConfig;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.types.Row;

/** bertd_tag(text [, options]): entity spans and word tags, as `bertd tag`. */
@FunctionHint(output = @DataTypeHint("ROW<"
    + "spans ARRAY<ROW<label STRING, text STRING, `start` INT, `end` INT, score DOUBLE>>, "
    + "tags ARRAY<STRING>, error STRING>"))
public class BertdTag extends BertdAsyncFunction {
  private static final long serialVersionUID = 1L;

  public BertdTag() {
    this(null);
  }

  public BertdTag(BertdConfig config) {
    super("tag", config);
  }

  @Override
  protected Row toRow(JsonNode r) {
    return Row.of(spans(r.get("spans"), "label"), strings(r.get("tags")), null);
  }

  @Override
  protected Row error(String message) {
    return Row.of(null, null, message);
  }
}
