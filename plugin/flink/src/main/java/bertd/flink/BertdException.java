package bertd.flink;

/** A one-line error from bertd or its binding (a bad config, a missing library, a bad ABI). */
public class BertdException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public BertdException(String message) {
    super(message);
  }
}
