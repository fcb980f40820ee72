package bertd.flink.sql;

import bertd.flink.BertdConfig;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.types.Row;

/** bertd_joint(text [, options]): intent and slots (JointBERT), as `bertd joint`. */
@FunctionHint(output = @DataTypeHint("ROW<intent STRING, intent_score DOUBLE, "
    + "intents ARRAY<ROW<label STRING, score DOUBLE>>, "
    + "slots ARRAY<ROW<slot STRING, text STRING, `start` INT, `end` INT, score DOUBLE>>, "
    + "tags ARRAY<STRING>, error STRING>"))
public class BertdJoint extends BertdAsyncFunction {
  private static final long serialVersionUID = 1L;

  public BertdJoint() {
    this(null);
  }

  public BertdJoint(BertdConfig config) {
    super("joint", config);
  }

  @Override
  protected Row toRow(JsonNode r) {
    JsonNode intent = r.get("intent");
    boolean has = intent != null && !intent.isNull();
    return Row.of(has ? intent.get("label").asText() : null,
        has ? intent.get("score").asDouble() : null, labelScores(r.get("intents")),
        spans(r.get("slots"), "slot"), strings(r.get("tags")), null);
  }

  @Override
  protected Row error(String message) {
    return Row.of(null, null, null, null, null, message);
  }
}
