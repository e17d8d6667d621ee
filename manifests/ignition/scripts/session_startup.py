# Perspective session startup: tells the session where the Genie chat page is, for the GenieChat
# inline frame of the Mining/Equipment view. lode fills in the workspace URL from its variables and
# the Genie space id and chat page URL from the Databricks resources it created, when it writes
# this script. Nothing secret belongs in these values or in the URL: the chat page relies on the
# viewer's own workspace session, the URL only names the Genie space.
session.custom.genie_space_id = "${ref.genie_space.mining_ops.id}"
session.custom.workspace_url = "${var.workspace_url}"
session.custom.genie_chat_url = "${ref.workspace_file.chat_page.url}" + "?space=" + session.custom.genie_space_id
