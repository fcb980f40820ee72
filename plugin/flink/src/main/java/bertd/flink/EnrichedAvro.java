package bertd.flink;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Plain Avro in, the daemon's enriched record out: the input record with every field unchanged
 * plus a last field {@code bertd} of type {@code bertd.Enrichment}, the record `bertd schema
 * enrich` appends (taken from schemas/utterance.enriched.avsc, packed into the jar), filled
 * from the plugin's JSON result by field name as the daemon fills it.
 */
final class EnrichedAvro {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static volatile Schema enrichment;

  private final Schema input;
  private final Schema enriched;
  private final GenericDatumReader<GenericRecord> reader;
  private final GenericDatumWriter<GenericRecord> writer;
  private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
  private BinaryEncoder encoder;

  EnrichedAvro(String inputSchemaJson) {
    this.input = new Schema.Parser().parse(inputSchemaJson);
    this.enriched = enrichedSchema(input);
    this.reader = new GenericDatumReader<>(input);
    this.writer = new GenericDatumWriter<>(enriched);
  }

  Schema inputSchema() {
    return input;
  }

  /** The bertd.Enrichment record, as the daemon's enriched schema has it. */
  static Schema enrichmentSchema() {
    if (enrichment == null) {
      try (InputStream in =
          EnrichedAvro.class.getResourceAsStream("/bertd/flink/utterance.enriched.avsc")) {
        if (in == null) throw new BertdException("utterance.enriched.avsc is missing from the jar");
        Schema s = new Schema.Parser().parse(in);
        enrichment = s.getField("bertd").schema();
      } catch (IOException e) {
        throw new BertdException("utterance.enriched.avsc: " + e.getMessage());
      }
    }
    return enrichment;
  }

  /** input's fields unchanged, then bertd: bertd.Enrichment (as `bertd schema enrich`). */
  static Schema enrichedSchema(Schema input) {
    if (input.getType() != Schema.Type.RECORD) {
      throw new BertdException("the input schema must be a record, got " + input.getType());
    }
    if (input.getField("bertd") != null) {
      throw new BertdException("the input schema already has a field named bertd");
    }
    List<Schema.Field> fields = new ArrayList<>();
    for (Schema.Field f : input.getFields()) fields.add(new Schema.Field(f, f.schema()));
    fields.add(new Schema.Field("bertd", enrichmentSchema(), null, (Object) null));
    Schema out = Schema.createRecord(input.getName(), input.getDoc(), input.getNamespace(),
        input.isError(), fields);
    for (Map.Entry<String, Object> p : input.getObjectProps().entrySet()) {
      out.addProp(p.getKey(), p.getValue());
    }
    return out;
  }

  GenericRecord decode(byte[] datum) throws IOException {
    return reader.read(null, DecoderFactory.get().binaryDecoder(datum, null));
  }

  /** The enriched datum of an input datum and its bertd result. */
  byte[] encode(byte[] inputDatum, BertdRecord r, String model, String checksum, String task,
      Double endToEndMs) throws IOException {
    GenericRecord in = decode(inputDatum);
    GenericData.Record out = new GenericData.Record(enriched);
    for (Schema.Field f : input.getFields()) out.put(f.name(), in.get(f.pos()));
    JsonNode result = JSON.readTree(r.result);
    Schema es = enrichmentSchema();
    GenericData.Record b = new GenericData.Record(es);
    for (Schema.Field f : es.getFields()) {
      JsonNode v = result.get(f.name());
      if (v != null) {
        b.put(f.pos(), convert(v, f.schema()));
      } else if (f.hasDefaultValue()) {
        b.put(f.pos(), GenericData.get().getDefaultValue(f));
      }
    }
    b.put("model", model);
    b.put("model_checksum", checksum);
    b.put("task", task);
    b.put("queue_ms", r.queueMs);
    b.put("model_ms", r.modelMs);
    b.put("end_to_end_ms", endToEndMs);
    out.put("bertd", b);
    buf.reset();
    encoder = EncoderFactory.get().binaryEncoder(buf, encoder);
    writer.write(out, encoder);
    encoder.flush();
    return buf.toByteArray();
  }

  /** A JSON value of the plugin's result as the Avro type of the same-named field. */
  static Object convert(JsonNode v, Schema s) {
    switch (s.getType()) {
      case UNION:
        if (v.isNull()) return null;
        for (Schema branch : s.getTypes()) {
          if (branch.getType() != Schema.Type.NULL) return convert(v, branch);
        }
        return null;
      case RECORD: {
        GenericData.Record rec = new GenericData.Record(s);
        for (Schema.Field f : s.getFields()) {
          JsonNode x = v.get(f.name());
          if (x != null) {
            rec.put(f.pos(), convert(x, f.schema()));
          } else if (f.hasDefaultValue()) {
            rec.put(f.pos(), GenericData.get().getDefaultValue(f));
          }
        }
        return rec;
      }
      case ARRAY: {
        List<Object> list = new ArrayList<>(v.size());
        for (Iterator<JsonNode> it = v.elements(); it.hasNext(); ) {
          list.add(convert(it.next(), s.getElementType()));
        }
        return list;
      }
      case STRING:
        return v.asText();
      case INT:
        return v.asInt();
      case LONG:
        return v.asLong();
      case FLOAT:
        return (float) v.asDouble();
      case DOUBLE:
        return v.asDouble();
      case BOOLEAN:
        return v.asBoolean();
      case BYTES:
        return ByteBuffer.wrap(v.asText().getBytes(java.nio.charset.StandardCharsets.UTF_8));
      default:
        return null;
    }
  }
}
