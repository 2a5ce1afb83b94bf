import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;

/**
 * Starts DynamoDB Local (the jar's own server, built by ServerRunner from the same command-line
 * flags) listening on 127.0.0.1 only. DynamoDB Local 1.25 builds its Jetty server with
 * {@code new Server(port)}, whose connector binds every interface and has no flag to change it:
 * this launcher sets the connector's host before the server starts, so no socket is ever bound to
 * 0.0.0.0. Prints "listening on HOST:PORT" once ready. Stops on SIGTERM (JVM shutdown hook).
 *
 * Usage: java -cp LAUNCHER_DIR:DynamoDBLocal.jar StratusDynamoDBLocal [DynamoDB Local flags]
 */
public final class StratusDynamoDBLocal {
  private static final String HOST = System.getProperty("stratus.host", "127.0.0.1");

  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    if (proxy == null) {
      System.exit(2);
      return;
    }
    Field f = DynamoDBProxyServer.class.getDeclaredField("server");
    f.setAccessible(true);
    Server jetty = (Server) f.get(proxy);
    Connector[] connectors = jetty.getConnectors();
    if (connectors.length == 0) throw new IllegalStateException("DynamoDB Local has no connector");
    for (Connector c : connectors) {
      if (!(c instanceof ServerConnector)) {
        throw new IllegalStateException("unexpected connector " + c.getClass().getName());
      }
      ((ServerConnector) c).setHost(HOST);
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        proxy.stop();
      } catch (Exception e) {
        // exiting anyway
      }
    }));
    proxy.start();
    ServerConnector first = (ServerConnector) connectors[0];
    System.out.println("listening on " + HOST + ":" + first.getLocalPort());
    proxy.join();
  }
}
