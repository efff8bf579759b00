# The agent's image: built with the same `.ci/deps` and Makefile CI uses, run on a slim
# Debian with only the libraries the binary links (libbpf is linked statically).
#
#   docker build -t ctrlscope:0.1.0 .
#
# The chart's image.repository (ctrlscope) and tag (its appVersion) name this image; push
# it to your registry and set image.registry. The agent runs as root with the capabilities
# the chart grants (drop ALL, add BPF, PERFMON, ...): nothing here needs more.
FROM debian:bookworm AS build
WORKDIR /src
COPY .ci/deps .ci/deps
RUN bash .ci/deps build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN make -j"$(nproc)" build/ctrlscope && ./build/ctrlscope --version

FROM debian:bookworm-slim
# One package per library build/ctrlscope needs (readelf -d): tests/run-chart.sh checks
# this list against the binary. And libcapstone4, which it loads (dlopen) only while it
# decodes a Go binary's functions.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		libelf1 zlib1g libmicrohttpd12 libgnutls30 libyaml-0-2 libcurl4 libjansson4 \
		libssl3 libcrypt1 libcapstone4 ca-certificates \
	&& rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/ctrlscope /usr/bin/ctrlscope
USER 0:0
ENTRYPOINT ["/usr/bin/ctrlscope"]
CMD ["--config.file=/etc/ctrlscope/config/config.yaml"]
