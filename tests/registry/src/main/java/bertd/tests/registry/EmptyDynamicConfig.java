package bertd.tests.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/**
 * The list of properties an operator may change at run time through the registry's admin API.
 * Apicurio's config-index extension builds it at build time from @Dynamic annotations; that
 * extension's build half is not on Maven Central (see pom.xml), so the list is empty here: every
 * setting is the static one from application.properties or the environment, which is all the
 * tests need.
 */
@ApplicationScoped
public class EmptyDynamicConfig {
    @Produces
    @ApplicationScoped
    public DynamicConfigPropertyList dynamicConfigProperties() {
        return new DynamicConfigPropertyList(java.util.List.of());
    }
}
