package bertd.flink.sql;

import bertd.flink.BertdConfig;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.types.Row;

/** bertd_classify(text [, options]): the top label and the reported labels, as `bertd classify`. */
@FunctionHint(output = @DataTypeHint("ROW<label STRING, score DOUBLE, "
    + "labels ARRAY<ROW<label STRING, score DOUBLE>>, error STRING>"))
public class BertdClassify extends BertdAsyncFunction {
  private static final long serialVersionUID = 1L;

  public BertdClassify() {
    this(null);
  }

  public BertdClassify(BertdConfig config) {
    super("classify", config);
  }

  @Override
  protected Row toRow(JsonNode r) {
    Row[] labels = labelScores(r.get("labels"));
    Row top = labels.length > 0 ? labels[0] : null;
    return Row.of(top == null ? null : top.getField(0), top == null ? null : top.getField(1),
        labels, null);
  }

  @Override
  protected Row error(String message) {
    return Row.of(null, null, null, message);
  }
}
