package bertd.flink.sql;

import bertd.flink.BertdConfig;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.types.Row;

/** bertd_embed(text [, options]): the sentence embedding, as `bertd embed`. */
@FunctionHint(output = @DataTypeHint("ROW<embedding ARRAY<FLOAT>, error STRING>"))
public class BertdEmbed extends BertdAsyncFunction {
  private static final long serialVersionUID = 1L;

  public BertdEmbed() {
    this(null);
  }

  public BertdEmbed(BertdConfig config) {
    super("embed", config);
  }

  @Override
  protected Row toRow(JsonNode r) {
    JsonNode e = r.get("embedding");
    Float[] v = new Float[e == null ? 0 : e.size()];
    for (int i = 0; i < v.length; i++) v[i] = (float) e.get(i).asDouble();
    return Row.of(v, null);
  }

  @Override
  protected Row error(String message) {
    return Row.of(null, message);
  }
}
