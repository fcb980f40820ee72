package bertd.flink.sql;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;

/**
 * Runs SQL statements on a local Flink (MiniCluster) and prints the last query's rows as JSON
 * lines, nested rows as objects: `scripts/flink-enrich.sh sql [-D KEY=VALUE ...] (-e SQL | -f
 * FILE)`. Statements are separated by ';' at the end of a line. -D sets Flink / table options,
 * e.g. -D pipeline.global-job-parameters=bertd.model.dir:DIR.
 */
public final class SqlRunner {
  private SqlRunner() {}

  public static void main(String[] argv) throws Exception {
    Configuration conf = new Configuration();
    String sql = null;
    for (int i = 0; i < argv.length; i++) {
      if (i + 1 >= argv.length) usage(argv[i] + " needs a value");
      String v = argv[++i];
      switch (argv[i - 1]) {
        case "-D": {
          int eq = v.indexOf('=');
          if (eq < 0) usage("-D: expected KEY=VALUE, got '" + v + "'");
          conf.setString(v.substring(0, eq), v.substring(eq + 1));
          break;
        }
        case "-e":
          sql = v;
          break;
        case "-f":
          sql = new String(Files.readAllBytes(Paths.get(v)), StandardCharsets.UTF_8);
          break;
        default:
          usage("unknown option '" + argv[i - 1] + "'");
      }
    }
    if (sql == null) usage("give -e SQL or -f FILE");
    List<String> statements = new ArrayList<>();
    for (String s : sql.split(";\\s*(\\n|$)")) {
      if (!s.trim().isEmpty()) statements.add(s.trim());
    }
    TableEnvironment env =
        TableEnvironment.create(EnvironmentSettings.newInstance().inStreamingMode()
            .withConfiguration(conf).build());
    TableResult last = null;
    for (String s : statements) last = env.executeSql(s);
    if (last == null) return;
    List<String> names = last.getResolvedSchema().getColumnNames();
    List<LogicalType> types = new ArrayList<>();
    last.getResolvedSchema().getColumnDataTypes().forEach(t -> types.add(t.getLogicalType()));
    ObjectMapper json = new ObjectMapper();
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    try (CloseableIterator<Row> it = last.collect()) {
      while (it.hasNext()) {
        Row r = it.next();
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        for (int i = 0; i < names.size(); i++) o.set(names.get(i), node(r.getField(i), types.get(i)));
        out.println(json.writeValueAsString(o));
      }
    }
    out.flush();
  }

  private static JsonNode node(Object v, LogicalType t) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    if (v == null) return f.nullNode();
    if (t instanceof RowType) {
      RowType rt = (RowType) t;
      Row r = (Row) v;
      ObjectNode o = f.objectNode();
      for (int i = 0; i < rt.getFieldCount(); i++) {
        o.set(rt.getFieldNames().get(i), node(r.getField(i), rt.getTypeAt(i)));
      }
      return o;
    }
    if (t instanceof ArrayType) {
      ArrayNode a = f.arrayNode();
      for (Object x : (Object[]) v) a.add(node(x, ((ArrayType) t).getElementType()));
      return a;
    }
    if (v instanceof Double) return f.numberNode((Double) v);
    if (v instanceof Float) return f.numberNode((Float) v);
    if (v instanceof Integer) return f.numberNode((Integer) v);
    if (v instanceof Long) return f.numberNode((Long) v);
    if (v instanceof Boolean) return f.booleanNode((Boolean) v);
    return f.textNode(v.toString());
  }

  private static void usage(String why) {
    System.err.println("flink-enrich sql: " + why);
    System.err.println("usage: flink-enrich.sh sql [-D KEY=VALUE ...] (-e SQL | -f FILE)");
    System.exit(2);
  }
}
