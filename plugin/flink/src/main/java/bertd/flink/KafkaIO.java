package bertd.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.util.Utf8;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

/** The job's Kafka edges: records in (decoded, text picked), enriched records and dead letters out. */
final class KafkaIO {
  private KafkaIO() {}

  /**
   * Kafka record -> BertdRecord. The Avro datum is decoded here with the input schema and the
   * text (and pair) picked; a record that is not Avro of that schema, whose text is null or not
   * valid UTF-8, becomes a dead letter that keeps its place in the order (the operator passes
   * it on to the side output), with the daemon's reason (NOT_AVRO, NOT_A_STRING,
   * INVALID_UTF8).
   */
  static final class Reader implements KafkaRecordDeserializationSchema<BertdRecord> {
    private static final long serialVersionUID = 1L;
    private final String schemaJson;
    private final String textField;
    private final String pairField;
    private transient EnrichedAvro avro;

    Reader(String schemaJson, String textField, String pairField) {
      this.schemaJson = schemaJson;
      this.textField = textField;
      this.pairField = pairField;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> in, Collector<BertdRecord> out) {
      if (avro == null) avro = new EnrichedAvro(schemaJson);
      BertdRecord r = new BertdRecord();
      r.key = in.key();
      r.id = in.key() == null ? "" : new String(in.key(), StandardCharsets.UTF_8);
      r.payload = in.value() == null ? new byte[0] : in.value();
      r.topic = in.topic();
      r.partition = in.partition();
      r.offset = in.offset();
      out.collect(pick(avro, r, textField, pairField));
    }

    @Override
    public TypeInformation<BertdRecord> getProducedType() {
      return TypeInformation.of(BertdRecord.class);
    }
  }

  /** Decodes r.payload and sets r.text / r.pair, or makes r a dead letter saying why, with the
   *  daemon's reasons (avro/codec.c). */
  static BertdRecord pick(EnrichedAvro avro, BertdRecord r, String textField, String pairField) {
    GenericRecord g;
    try {
      g = avro.decode(r.payload);
    } catch (IOException | RuntimeException e) {
      return r.deadLetter("NOT_AVRO", "not an Avro " + avro.inputSchema().getFullName()
          + " record: " + oneLine(e));
    }
    Schema.Field tf = g.getSchema().getField(textField);
    if (tf == null) return r.deadLetter("MISSING_FIELD", "field '" + textField + "' is missing");
    Object t = g.get(tf.pos());
    if (!(t instanceof CharSequence)) {
      return r.deadLetter("NOT_A_STRING", "field '" + textField + "' is "
          + (t == null ? "null" : "not a string"));
    }
    r.text = bytes(t);
    String bad = utf8Error(r.text);
    if (bad != null) return r.deadLetter("INVALID_UTF8", "field '" + textField + "': " + bad);
    Schema.Field pf = g.getSchema().getField(pairField);
    Object p = pf == null ? null : g.get(pf.pos());
    if (p instanceof CharSequence) {
      r.pair = bytes(p);
      bad = utf8Error(r.pair);
      if (bad != null) return r.deadLetter("INVALID_UTF8", "field '" + pairField + "': " + bad);
    }
    return r;
  }

  /** null when b is valid UTF-8, else where it is not. */
  static String utf8Error(byte[] b) {
    java.nio.charset.CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
        .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
    java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(b);
    java.nio.CharBuffer out = java.nio.CharBuffer.allocate(b.length + 1);
    java.nio.charset.CoderResult res = d.decode(in, out, true);
    if (res.isError()) return "invalid UTF-8 at byte " + in.position();
    return null;
  }

  private static byte[] bytes(Object s) {
    if (s instanceof Utf8) {
      Utf8 u = (Utf8) s;
      byte[] b = new byte[u.getByteLength()];
      System.arraycopy(u.getBytes(), 0, b, 0, b.length);
      return b;
    }
    return s.toString().getBytes(StandardCharsets.UTF_8);
  }

  static String oneLine(Throwable e) {
    String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }

  /** Enriched records: the daemon's enriched Avro record, same key, same partition when asked. */
  static final class Writer implements KafkaRecordSerializationSchema<BertdRecord> {
    private static final long serialVersionUID = 1L;
    private final String topic;
    private final String schemaJson;
    private final BertdConfig config;
    private final boolean samePartition;
    private transient EnrichedAvro avro;

    Writer(String topic, String schemaJson, BertdConfig config, boolean samePartition) {
      this.topic = topic;
      this.schemaJson = schemaJson;
      this.config = config;
      this.samePartition = samePartition;
    }

    @Override
    public void open(SerializationSchema.InitializationContext ctx, KafkaSinkContext sink) {
      avro = new EnrichedAvro(schemaJson);
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(BertdRecord r, KafkaSinkContext ctx,
        Long timestamp) {
      Double e2e = timestamp == null ? null : (double) (System.currentTimeMillis() - timestamp);
      byte[] value;
      try {
        value = avro.encode(r.payload, r, r.model, r.checksum, config.task(), e2e);
      } catch (IOException e) {
        throw new BertdException("encoding the enriched record of " + r.topic + "/"
            + r.partition + "@" + r.offset + ": " + oneLine(e));
      }
      Integer partition = samePartition && r.partition >= 0 ? r.partition : null;
      return new ProducerRecord<>(topic, partition, timestamp, r.key, value);
    }
  }

  /** Dead letters: the original bytes and key, headers as the daemon writes them. */
  static final class DeadLetterWriter implements KafkaRecordSerializationSchema<BertdRecord> {
    private static final long serialVersionUID = 1L;
    private final String topic;

    DeadLetterWriter(String topic) {
      this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(BertdRecord r, KafkaSinkContext ctx,
        Long timestamp) {
      List<Header> h = new ArrayList<>();
      h.add(header("bertd.reason", r.reason));
      h.add(header("bertd.error", r.error == null ? "" : r.error));
      h.add(header("bertd.source.topic", r.topic));
      h.add(header("bertd.source.partition", Integer.toString(r.partition)));
      h.add(header("bertd.source.offset", Long.toString(r.offset)));
      return new ProducerRecord<>(topic, null, timestamp, r.key, r.payload, h);
    }

    private static Header header(String k, String v) {
      return new RecordHeader(k, v.getBytes(StandardCharsets.UTF_8));
    }
  }
}
