"""The web app's pieces that are not Gradio: `render` (answer Markdown and article pages, escaped),
`service` (the index loaded or built in the background, uploads), `security` (what a client may send).
`app.py` holds the Gradio UI and `main`."""
