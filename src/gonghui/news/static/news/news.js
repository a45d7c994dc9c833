// The article form: a picture dragged or pasted into the text is uploaded to the article
// (its type and size are checked there; the app serves it while the article may be read)
// and shown from there. A new article has nowhere to keep pictures yet: they are refused,
// with a hint to save the draft first.
(function () {
  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  document.addEventListener("trix-file-accept", function (event) {
    var editor = event.target;
    var allowed = /^image\/(jpeg|png)$/.test(event.file && event.file.type);
    if (!editor.dataset.uploadUrl || !allowed) {
      event.preventDefault();
      var hint = document.getElementById(editor.dataset.hint);
      if (hint) { hint.hidden = false; }
    }
  });
  document.addEventListener("trix-attachment-add", function (event) {
    var attachment = event.attachment;
    var editor = event.target;
    if (!attachment.file || !editor.dataset.uploadUrl) { return; }
    var data = new FormData();
    data.append("file", attachment.file);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", editor.dataset.uploadUrl, true);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { attachment.setUploadProgress((e.loaded / e.total) * 100); }
    });
    xhr.addEventListener("load", function () {
      var answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
      if (xhr.status === 200 && answer.url) {
        attachment.setAttributes({ url: answer.url, href: answer.url });
      } else {
        attachment.remove();
        window.alert(answer.error || editor.dataset.failed);
      }
    });
    xhr.addEventListener("error", function () {
      attachment.remove();
      window.alert(editor.dataset.failed);
    });
    xhr.send(data);
  });
})();
