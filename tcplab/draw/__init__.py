"""Pictures of an exchange and of TCP's states: SVG and Mermaid, drawn from an engine Ladder and
from the model's table. Pure: text in, text out; no driver, socket or terminal."""
