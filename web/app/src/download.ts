// Saves `body` as a file named `name`, from memory (nothing is fetched again, so a credentials
// bundle shown once stays once).
export function download(name: string, body: string, type: string): void {
  const url = URL.createObjectURL(new Blob([body], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later: revoking at once can cancel the download before the browser reads it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
