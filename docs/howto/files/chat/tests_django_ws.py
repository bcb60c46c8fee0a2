# After: a test against the real server (chat/tests.py), in place of
# Channels' WebsocketCommunicator: runws in a child process, a real client.
from django_ws.testing import HandshakeRejected, WebSocketLiveServerTestCase


class ChatTests(WebSocketLiveServerTestCase):
    def test_anonymous_users_are_refused_before_the_handshake(self):
        with self.assertRaises(HandshakeRejected) as refused:
            self.connect("/ws/chat/lobby/")
        self.assertEqual(refused.exception.status, 401)
