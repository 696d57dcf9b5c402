"""Gemini with each user's own key: bookmark content analysis, project intent, breakdowns."""
