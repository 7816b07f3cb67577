"""The catalog widget: `widget.js` and `widget.css`, served by the service, and the demo page."""
