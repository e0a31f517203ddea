# Builds the hubnet tool; see docker-compose.yml for PostgreSQL, migrations and the server.
FROM swift:6.1-bookworm AS build
WORKDIR /src
COPY . .
RUN swift build -c release --product hubnet \
 && mkdir /out && cp .build/release/hubnet /out/ && cp -R .build/release/*.resources /out/

FROM swift:6.1-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends postgresql libpq-dev && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/hubnet"]
CMD ["serve", "--host", "0.0.0.0"]
