"""factory_boy factories for the tenant-schema models. Use them inside a tenant schema."""

import factory

from notifications.models import (
    Integration,
    Route,
    Subscriber,
    Template,
    TemplateVariant,
    Topic,
    TopicSubscription,
    Workflow,
    WorkflowStep,
)


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    subscriber_id = factory.Sequence(lambda n: f"user-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.subscriber_id}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    locale = "en"


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic

    key = factory.Sequence(lambda n: f"topic-{n}")
    name = factory.LazyAttribute(lambda o: o.key.title())


class TopicSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TopicSubscription

    topic = factory.SubFactory(TopicFactory)
    subscriber = factory.SubFactory(SubscriberFactory)


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Template

    key = factory.Sequence(lambda n: f"template-{n}")
    channel = "email"
    locale = "en"
    subject = "Hello {{ subscriber.first_name }}"
    body = "<p>Order {{ payload.order_id }} has shipped.</p>"


class TemplateVariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TemplateVariant

    template = factory.SubFactory(TemplateFactory)
    name = factory.Sequence(lambda n: f"variant-{n}")
    weight = 1
    body = "Variant body {{ payload.order_id }}"


class WorkflowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workflow

    key = factory.Sequence(lambda n: f"workflow-{n}")
    name = factory.LazyAttribute(lambda o: o.key.title())
    critical = False


class WorkflowStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkflowStep

    workflow = factory.SubFactory(WorkflowFactory)
    position = factory.Sequence(lambda n: n)
    type = "send"
    channel = "email"
    template_key = ""


class RouteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Route

    event = factory.Sequence(lambda n: f"event.{n}")
    workflow = factory.SubFactory(WorkflowFactory)
    priority = "normal"
    active = True


class IntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Integration

    channel = "sms"
    provider = "console"
    name = factory.Sequence(lambda n: f"integration-{n}")
    settings = factory.LazyFunction(dict)
    primary = True
    active = True
    credentials = factory.LazyFunction(dict)
