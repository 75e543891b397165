"""Every text the widget shows, in English, with shipped translations.

A workspace overrides any of them per locale (Widget settings); ``resolve`` merges
English, the shipped translation and the workspace's overrides, in that order, so a
missing key never leaves a hole in the widget. ``{name}`` and ``{n}`` are filled in by
the widget.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_STRINGS: dict[str, str] = {
    "open": "Open chat",
    "close": "Close chat",
    "input_placeholder": "Type your message…",
    "input_label": "Your message",
    "send": "Send",
    "you": "You",
    "assistant": "Assistant",
    "agent": "Agent",
    "sources": "Sources",
    "typing": "{name} is typing…",
    "talk_to_person": "Talk to a person",
    "handoff_requested": "We have asked a person to join. They will reply here.",
    "waiting": "Waiting for a person…",
    "agent_joined": "{name} joined the conversation.",
    "back_to_assistant": "The assistant is answering again.",
    "feedback_up": "Helpful",
    "feedback_down": "Not helpful",
    "feedback_thanks": "Thanks for your feedback.",
    "resolved": "This conversation was resolved.",
    "rate_prompt": "How did we do?",
    "star_label": "{n} of 5 stars",
    "rate_comment": "Anything to add? (optional)",
    "rate_submit": "Send rating",
    "rate_thanks": "Thank you for your rating.",
    "new_conversation": "Start a new conversation",
    "sending": "Sending…",
    "not_sent": "Not sent. Select to try again.",
    "error_too_long": "A message is limited to 2,000 characters.",
    "error_rate_limited": "You are sending messages too quickly. Try again in a moment.",
    "error_offline": "Connection lost. Reconnecting…",
    "error_generic": "Something went wrong. Please try again.",
    "powered_by": "Powered by Chatmina",
    "transcript_label": "Conversation",
    "suggestions_label": "Suggested questions",
    "error_empty": "Write a message first.",
    "error_origin": "Chat is not enabled on this website.",
    "error_identity": "We could not confirm who you are. Please sign in again.",
}

TRANSLATIONS: dict[str, dict[str, str]] = {
    "de": {
        "open": "Chat öffnen",
        "close": "Chat schließen",
        "input_placeholder": "Nachricht schreiben…",
        "input_label": "Ihre Nachricht",
        "send": "Senden",
        "you": "Sie",
        "assistant": "Assistent",
        "agent": "Mitarbeiter",
        "sources": "Quellen",
        "typing": "{name} schreibt…",
        "talk_to_person": "Mit einem Menschen sprechen",
        "handoff_requested": "Wir haben einen Mitarbeiter gebeten, dazuzukommen. "
        "Die Antwort erscheint hier.",
        "waiting": "Warten auf einen Mitarbeiter…",
        "agent_joined": "{name} ist dem Gespräch beigetreten.",
        "back_to_assistant": "Der Assistent antwortet wieder.",
        "feedback_up": "Hilfreich",
        "feedback_down": "Nicht hilfreich",
        "feedback_thanks": "Danke für Ihr Feedback.",
        "resolved": "Dieses Gespräch wurde abgeschlossen.",
        "rate_prompt": "Wie waren wir?",
        "star_label": "{n} von 5 Sternen",
        "rate_comment": "Möchten Sie etwas ergänzen? (optional)",
        "rate_submit": "Bewertung senden",
        "rate_thanks": "Danke für Ihre Bewertung.",
        "new_conversation": "Neues Gespräch beginnen",
        "sending": "Wird gesendet…",
        "not_sent": "Nicht gesendet. Zum erneuten Senden auswählen.",
        "error_too_long": "Eine Nachricht darf höchstens 2.000 Zeichen lang sein.",
        "error_rate_limited": "Sie senden zu schnell. Bitte versuchen Sie es gleich noch einmal.",
        "error_offline": "Verbindung verloren. Verbinde neu…",
        "error_generic": "Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.",
        "powered_by": "Bereitgestellt von Chatmina",
        "transcript_label": "Gespräch",
        "suggestions_label": "Vorgeschlagene Fragen",
        "error_empty": "Schreiben Sie zuerst eine Nachricht.",
        "error_origin": "Der Chat ist auf dieser Website nicht aktiviert.",
        "error_identity": "Wir konnten Ihre Identität nicht bestätigen. "
        "Bitte melden Sie sich erneut an.",
    },
    "fr": {
        "open": "Ouvrir le chat",
        "close": "Fermer le chat",
        "input_placeholder": "Écrivez votre message…",
        "input_label": "Votre message",
        "send": "Envoyer",
        "you": "Vous",
        "assistant": "Assistant",
        "agent": "Conseiller",
        "sources": "Sources",
        "typing": "{name} écrit…",
        "talk_to_person": "Parler à une personne",
        "handoff_requested": "Nous avons demandé à une personne de vous rejoindre. "
        "Elle répondra ici.",
        "waiting": "En attente d'une personne…",
        "agent_joined": "{name} a rejoint la conversation.",
        "back_to_assistant": "L'assistant répond de nouveau.",
        "feedback_up": "Utile",
        "feedback_down": "Pas utile",
        "feedback_thanks": "Merci pour votre avis.",
        "resolved": "Cette conversation est terminée.",
        "rate_prompt": "Comment s'est passé cet échange ?",
        "star_label": "{n} étoiles sur 5",
        "rate_comment": "Un commentaire ? (facultatif)",
        "rate_submit": "Envoyer la note",
        "rate_thanks": "Merci pour votre note.",
        "new_conversation": "Nouvelle conversation",
        "sending": "Envoi…",
        "not_sent": "Non envoyé. Sélectionnez pour réessayer.",
        "error_too_long": "Un message est limité à 2 000 caractères.",
        "error_rate_limited": "Vous envoyez des messages trop vite. Réessayez dans un instant.",
        "error_offline": "Connexion perdue. Reconnexion…",
        "error_generic": "Une erreur s'est produite. Veuillez réessayer.",
        "powered_by": "Propulsé par Chatmina",
        "transcript_label": "Conversation",
        "suggestions_label": "Questions suggérées",
        "error_empty": "Écrivez d'abord un message.",
        "error_origin": "Le chat n'est pas activé sur ce site.",
        "error_identity": "Nous n'avons pas pu confirmer votre identité. "
        "Veuillez vous reconnecter.",
    },
    "es": {
        "open": "Abrir el chat",
        "close": "Cerrar el chat",
        "input_placeholder": "Escribe tu mensaje…",
        "input_label": "Tu mensaje",
        "send": "Enviar",
        "you": "Tú",
        "assistant": "Asistente",
        "agent": "Agente",
        "sources": "Fuentes",
        "typing": "{name} está escribiendo…",
        "talk_to_person": "Hablar con una persona",
        "handoff_requested": "Hemos pedido a una persona que se una. Responderá aquí.",
        "waiting": "Esperando a una persona…",
        "agent_joined": "{name} se ha unido a la conversación.",
        "back_to_assistant": "El asistente vuelve a responder.",
        "feedback_up": "Útil",
        "feedback_down": "No es útil",
        "feedback_thanks": "Gracias por tu opinión.",
        "resolved": "Esta conversación se ha resuelto.",
        "rate_prompt": "¿Qué tal lo hicimos?",
        "star_label": "{n} de 5 estrellas",
        "rate_comment": "¿Algo que añadir? (opcional)",
        "rate_submit": "Enviar valoración",
        "rate_thanks": "Gracias por tu valoración.",
        "new_conversation": "Empezar una nueva conversación",
        "sending": "Enviando…",
        "not_sent": "No enviado. Selecciona para reintentar.",
        "error_too_long": "Un mensaje puede tener como máximo 2000 caracteres.",
        "error_rate_limited": "Estás enviando mensajes demasiado rápido. Inténtalo en un momento.",
        "error_offline": "Conexión perdida. Reconectando…",
        "error_generic": "Algo ha fallado. Inténtalo de nuevo.",
        "powered_by": "Con la tecnología de Chatmina",
        "transcript_label": "Conversación",
        "suggestions_label": "Preguntas sugeridas",
        "error_empty": "Escribe un mensaje primero.",
        "error_origin": "El chat no está activado en este sitio web.",
        "error_identity": "No hemos podido confirmar tu identidad. Vuelve a iniciar sesión.",
    },
}

LOCALES = ("en", *TRANSLATIONS)


def base_locale(locale: str) -> str:
    """ "de-AT" -> "de"; anything unknown -> ""."""
    return locale.strip().lower().replace("_", "-").split("-")[0][:10]


def resolve(locale: str, overrides: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The full set of strings for ``locale``: English, its translation, the overrides."""
    base = base_locale(locale)
    strings = dict(DEFAULT_STRINGS)
    strings.update(TRANSLATIONS.get(base, {}))
    for key, text in overrides.get(base, {}).items():
        if key in DEFAULT_STRINGS and text:
            strings[key] = text
    return strings
