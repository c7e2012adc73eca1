// Uploading a file into a log, as the Python client does it: create the object, ask the API for a
// presigned URL per part (with its size), PUT each part straight to S3 (never through the API, a few
// at a time), complete, then queue its ingestion.

import { ApiError, call, keySegment } from "./api.js";

const MIB = 1024 * 1024;
const MIN_PART = 16 * MIB; // S3 wants 5 MiB at least but for the last part; 10,000 parts at most
const MAX_PARTS = 10_000;
const PARALLEL = 4;

/** PUT a blob to a presigned URL; ``progress(bytes sent)`` as it goes. */
function put(url, blob, progress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.upload.addEventListener("progress", (event) => progress(event.loaded));
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) resolve();
      else reject(new ApiError(request.status, `[StorageError] Storage refused a part: ${request.status} ${request.responseText.slice(0, 300)}`));
    });
    request.addEventListener("error", () =>
      reject(new ApiError(0, "[StorageError] The part could not be sent to storage (network, or the bucket's CORS rules)."))
    );
    request.send(blob);
  });
}

/**
 * Upload ``file`` as the log object ``file.name`` and queue its ingestion; ``onProgress(sent, total)``.
 * Resolves to the ingestion.
 */
export async function uploadAndIngest(logId, file, onProgress) {
  const key = file.name;
  const partSize = Math.max(MIN_PART, Math.ceil(file.size / MAX_PARTS));
  const partCount = Math.max(1, Math.ceil(file.size / partSize));
  const objectPath = `/logs/${logId}/objects/${keySegment(key)}`;
  await call("POST", `/logs/${logId}/objects`, { body: file.type ? { key, content_type: file.type } : { key } });
  const sent = new Array(partCount).fill(0);
  const report = () => onProgress(sent.reduce((total, bytes) => total + bytes, 0), file.size);
  let next = 0;
  const worker = async () => {
    while (next < partCount) {
      const index = next;
      next += 1;
      const blob = file.slice(index * partSize, Math.min(file.size, (index + 1) * partSize));
      const part = await call("POST", `${objectPath}/parts`, { body: { part_number: index + 1, size: blob.size } });
      await put(part.data.presigned_url, blob, (bytes) => {
        sent[index] = bytes;
        report();
      });
      sent[index] = blob.size;
      report();
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, partCount) }, worker));
  await call("PATCH", objectPath, { body: { upload_state: "complete" } });
  const ingestion = await call("POST", "/ingestions", { body: { log_id: logId, object_key: key, name: key, state: "queued" } });
  return ingestion.data;
}
