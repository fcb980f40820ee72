// The keys of every record in a topic as a Kafka consumer with the given isolation level sees
// them, one per line (then "records N" on stderr). Run as a single-file program on the job's
// classpath (kafka-clients), by flink_test.py:
//   java -cp 'BUILD/plugin/flink/lib/*' ReadCommitted.java BROKERS TOPIC read_committed
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ReadCommitted {
  public static void main(String[] a) {
    Properties p = new Properties();
    p.setProperty("bootstrap.servers", a[0]);
    p.setProperty("isolation.level", a[2]);
    p.setProperty("enable.auto.commit", "false");
    try (KafkaConsumer<byte[], byte[]> c =
        new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = new ArrayList<>();
      for (PartitionInfo i : c.partitionsFor(a[1])) tps.add(new TopicPartition(a[1], i.partition()));
      c.assign(tps);
      c.seekToBeginning(tps);
      // the end as this isolation level sees it (read_committed: the last stable offset)
      Map<TopicPartition, Long> end = c.endOffsets(tps);
      long n = 0;
      StringBuilder out = new StringBuilder();
      long deadline = System.currentTimeMillis() + 60_000;
      while (System.currentTimeMillis() < deadline) {
        boolean done = true;
        for (TopicPartition tp : tps) done &= c.position(tp) >= end.get(tp);
        if (done) break;
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          out.append(r.key() == null ? "" : new String(r.key(), StandardCharsets.UTF_8)).append('\n');
          n++;
        }
      }
      System.out.print(out);
      System.err.println("records " + n);
    }
  }
}
