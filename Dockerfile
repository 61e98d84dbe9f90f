FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY projections projections
COPY api api
COPY workers workers
COPY eventmart eventmart
RUN pip install --no-cache-dir . && useradd --system eventmart
USER eventmart
ENV EVENTMART_ENV=prod
EXPOSE 8000
CMD ["eventmart", "serve", "--host", "0.0.0.0", "--no-workers", "--no-migrate"]
