// File storage as a Convex app uses it with the official client: an upload
// URL from a mutation, the file POSTed to it with fetch, its URL from a
// query, and a subscriber of that URL told when the file is deleted.
import { anyApi } from "convex/server";
import { check, emit, newClient, run, Subscription } from "./harness.mjs";

await run(async () => {
  const client = newClient();
  const uploadUrl = await client.mutation(anyApi.files.upload_url, {});
  const bytes = new Uint8Array([137, 80, 78, 71, 1, 2, 3, 4]);
  const posted = await fetch(uploadUrl, { method: "POST", headers: { "Content-Type": "image/png" }, body: bytes });
  const { storageId } = await posted.json();
  emit("uploaded", { status: posted.status, storageId });

  const watched = new Subscription(client, anyApi.files.url, { id: storageId }, "url");
  const fileUrl = await watched.value((url) => typeof url === "string", "the file's URL");
  const served = await fetch(fileUrl);
  const back = new Uint8Array(await served.arrayBuffer());
  emit("served", {
    status: served.status,
    type: served.headers.get("content-type"),
    same: back.length === bytes.length && back.every((b, i) => b === bytes[i]),
    meta: await client.query(anyApi.files.metadata, { id: storageId }),
  });
  const again = await fetch(uploadUrl, { method: "POST", headers: { "Content-Type": "image/png" }, body: bytes });
  emit("reused", { status: again.status });

  await client.mutation(anyApi.files.remove, { id: storageId });
  const gone = await watched.value((url) => url === null, "null once deleted");
  check(gone === null, "the subscriber sees the file gone", { values: watched.values });
  emit("deleted", { after: (await fetch(fileUrl)).status });
});
