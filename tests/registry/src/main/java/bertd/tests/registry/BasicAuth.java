package bertd.tests.registry;

import io.vertx.ext.web.Router;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.Optional;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * HTTP Basic auth on the registry's APIs (/apis/...), when the registry is started with
 * bertd.registry.basic-auth=USER:PASSWORD (registry.sh passes BERTD_REGISTRY_AUTH). A request
 * without that user and password gets 401 with a Basic challenge, as Confluent's registry answers
 * with its basic authentication on.
 *
 * Why our own: Apicurio 2.4's "basic auth" is OAuth client credentials exchanged at a Keycloak
 * server (which the tests do not have), and its authentication mechanism replaces Quarkus's own,
 * so Quarkus's embedded users cannot be used either. This filter runs first on every request.
 */
@ApplicationScoped
public class BasicAuth {
    @ConfigProperty(name = "bertd.registry.basic-auth")
    Optional<String> userPassword;

    void install(@Observes Router router) {
        if (userPassword.isEmpty() || userPassword.get().isEmpty()) {
            return;
        }
        byte[] want = ("Basic " + Base64.getEncoder().encodeToString(
                userPassword.get().getBytes(StandardCharsets.UTF_8))).getBytes(StandardCharsets.UTF_8);
        router.route("/apis/*").order(Integer.MIN_VALUE).handler(ctx -> {
            String got = ctx.request().getHeader("Authorization");
            if (got != null && MessageDigest.isEqual(want, got.getBytes(StandardCharsets.UTF_8))) {
                ctx.next();
                return;
            }
            ctx.response().setStatusCode(401)
                    .putHeader("WWW-Authenticate", "Basic realm=\"schema-registry\"")
                    .putHeader("Content-Type", "application/json")
                    .end("{\"error_code\":401,\"message\":\"Unauthorized\"}");
        });
    }
}
