// English strings of the share page. Each page imports the groups it
// shows, so its bundle carries no other page's strings (see i18n.ts); German: i18n-de.ts.

import { addStrings } from "./i18n";

export const share = {
  "share.heading": "Share from the clipboard",
  "share.intro": "Copy the JSON your shortcut made, then press the button. The content is encrypted here before it is sent.",
  "share.format": "Expected: {\"data\": \"<base64>\", \"filename\": optional, \"token\": optional, \"ttl\": optional seconds}.",
  "share.read": "Read clipboard",
  "share.preview": "Ready to share",
  "share.kind": "Content",
  "share.kind.text": "Text",
  "share.kind.file": "File",
  "share.kind.bundle": "Several files",
  "share.size": "Size",
  "share.filename": "File name",
  "share.copied": "The link has been copied to the clipboard.",
  "share.err.permission": "The clipboard could not be read. Allow clipboard access for this site and try again.",
  "share.err.empty": "The clipboard is empty.",
  "share.err.json": "The clipboard does not hold valid JSON.",
  "share.err.data": "The JSON has no \"data\" field (base64 text).",
  "share.err.base64": "The \"data\" field is not valid base64.",
  "share.err.filename": "The \"filename\" field must be text.",
  "share.err.token": "The \"token\" field must be text.",
  "share.err.ttl": "The \"ttl\" field must be a positive number of seconds.",
  "share.err.target": "Nothing was shared. Open the app once, then share again; or read the clipboard.",
};

addStrings(share);
