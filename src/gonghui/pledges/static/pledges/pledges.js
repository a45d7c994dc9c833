// Pledge forms: keep files out of the rich text (photos are uploaded with progress
// updates, where their type and size are checked).
document.addEventListener("trix-file-accept", function (event) { event.preventDefault(); });
