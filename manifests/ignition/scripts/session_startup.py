# Perspective session startup: tells the session where the Genie chat page is, for the GenieChat
# inline frame of the Mining/Equipment view. lode fills the three values in from its variables
# when it writes this script. Nothing secret belongs in these values or in the URL: the chat page
# signs in on its own, the URL only names the Genie space.
workspace_url = "${var.workspace_url}"
genie_space_id = "${var.genie_space_id}"
chat_page_url = "${var.chat_page_url}"

session.custom.workspace_url = workspace_url
session.custom.genie_space_id = genie_space_id
session.custom.genie_chat_url = chat_page_url + "?space=" + genie_space_id
