# ruff: noqa  (a fixture in the shape operators write, not project code)
# Dashboard settings of the lab's old controllers (written for sbs's tests).
# -*- coding: utf-8 -*-
import os

from django.utils.translation import gettext_lazy as _

from openstack_dashboard.settings import HORIZON_CONFIG  # noqa: F401

DEBUG = False
WEBROOT = '/dashboard/'
ALLOWED_HOSTS = ['dashboard.example.org', 'old-ctl1', '127.0.0.1']

SECRET_KEY = 'lab-horizon-secret-0123456789abcdef'

# Sessions in memcached, shared by both controllers.
SESSION_ENGINE = 'django.contrib.sessions.backends.cache'
CACHES = {
    'default': {
        'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache',
        'LOCATION': ['old-ctl1:11211', 'old-ctl2:11211'],
    },
}

# kept from the Django 3 days
USE_L10N = True   # trailing comment

OPENSTACK_HOST = "old-ctl1"
OPENSTACK_KEYSTONE_URL = "http://%s:5000/v3" % OPENSTACK_HOST
OPENSTACK_KEYSTONE_DEFAULT_ROLE = "member"
OPENSTACK_API_VERSIONS = {
    "identity": 3,
    "image": 2,
    "volume": 3,
}

OPENSTACK_NEUTRON_NETWORK = {
    'enable_router': True,
    'enable_quotas': True,
    'enable_ipv6': False,
}
OPENSTACK_NEUTRON_NETWORK['enable_distributed_router'] = False

if os.environ.get('HORIZON_LAB_DEBUG'):
    DEBUG = True

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.mysql',
        'NAME': 'horizon',
        'USER': 'horizon',
        'PASSWORD': 'lab-db-pass-9f8e7d',
        'HOST': 'old-db',
    },
}

TIME_ZONE = "UTC"
