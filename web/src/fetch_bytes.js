// One file's bytes over fetch(), or one readable error naming the URL (the model and the
// detector's files alike).

/** The response of `url` (its body not yet read); a failed request or an HTTP error throws
 * `ErrorType` with one line. */
export async function fetchOk(url, ErrorType = Error) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new ErrorType(`${url}: cannot be fetched (${e.message})`);
  }
  if (!response.ok) throw new ErrorType(`${url}: cannot be fetched (HTTP ${response.status})`);
  return response;
}

/** Uint8Array of `url` (errors as fetchOk). */
export async function fetchBytes(url, ErrorType = Error) {
  return new Uint8Array(await (await fetchOk(url, ErrorType)).arrayBuffer());
}
