# One image for web and worker. Build: docker compose build
FROM python:3.11-slim

# ffmpeg decodes m4a/aac; libsndfile (bundled in the soundfile wheel) covers wav/flac/ogg/mp3.
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# TORCH_INDEX_URL picks the torch build: empty = the default index (a CUDA build on Linux,
# right for the GPU worker); point it at a CPU-only index for a smaller CPU image.
ARG TORCH_INDEX_URL=""
COPY requirements.txt .
RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install --no-cache-dir torch==2.13.0 --index-url "$TORCH_INDEX_URL"; fi \
    && pip install --no-cache-dir -r requirements.txt

COPY . .
RUN SECRET_KEY=collectstatic-only ACOUSTICSENSE_VAR_DIR=/tmp/build-var python manage.py collectstatic --noinput -v 0

ENV PYTHONUNBUFFERED=1 ACOUSTICSENSE_ENV=production
EXPOSE 8000
CMD ["gunicorn", "acousticsense_site.wsgi:application", "--bind", "0.0.0.0:8000"]
