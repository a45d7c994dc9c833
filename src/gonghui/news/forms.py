"""Forms of the news pages. They check the shape of the input; the services decide (plain
titles, sanitised bodies, the union's channels, file types), and their refusals are shown
on the form as typed."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from gonghui.news import services
from gonghui.news.models import Article, Channel

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
TAG_SEPARATORS = re.compile(r"[,，、;；]")

# A service refusal's code -> the field it belongs to (file refusals name the file).
ARTICLE_ERROR_FIELDS = {
    "title": "title",
    "byline": "byline",
    "body": "body",
    "channel": "channel",
    "video_url": "video_url",
}


def split_tags(value: str) -> list[str]:
    """'劳模, 宣讲，车间' -> ['劳模', '宣讲', '车间']"""
    return [t.strip() for t in TAG_SEPARATORS.split(value or "") if t.strip()]


class ArticleForm(forms.Form):
    """Writing and editing an article: the body comes from the Trix editor as HTML."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    channel = forms.ModelChoiceField(label=_("channel"), queryset=Channel.objects.none())
    title = forms.CharField(label=_("title"), max_length=120)
    subtitle = forms.CharField(label=_("subtitle"), max_length=160, required=False)
    byline = forms.CharField(
        label=_("author"),
        max_length=60,
        help_text=_("As it is printed under the title, e.g. 王小明 or 本报记者 李华."),
    )
    # Hidden: the Trix editor writes into it. Required is left to the service, which
    # knows that markup without words is no article.
    body = forms.CharField(label=_("body"), widget=forms.HiddenInput, required=False)
    summary = forms.CharField(
        label=_("summary"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Shown in lists and feeds; leave empty to use the first lines."),
    )
    tags = forms.CharField(
        label=_("tags"),
        max_length=300,
        required=False,
        help_text=_("Separated by commas, e.g. 劳模宣讲, 安全生产."),
    )
    source = forms.CharField(
        label=_("source"), max_length=100, required=False, help_text=_("When reprinted.")
    )
    cover = forms.FileField(
        label=_("cover image"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png"}),
        help_text=_("JPG or PNG, up to 5 MB."),
    )
    video = forms.FileField(
        label=_("video"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "video/mp4"}),
        help_text=_("MP4, up to 200 MB."),
    )
    video_url = forms.CharField(
        label=_("video link"),
        max_length=200,
        required=False,
        help_text=_("Or a link to the video elsewhere (https://…)."),
    )

    def __init__(self, *args: Any, channels: list[Channel], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.filter(pk__in=[c.pk for c in channels])
        self.fields["channel"].empty_label = None

    @staticmethod
    def initial_of(article: Article) -> dict[str, Any]:
        return {
            "version": article.version,
            "channel": article.channel_id,
            "title": article.title,
            "subtitle": article.subtitle,
            "byline": article.byline,
            "body": article.body,
            "summary": article.summary,
            "tags": ", ".join(article.tags or []),
            "source": article.source,
            "video_url": article.video_url,
        }

    def as_input(self) -> services.ArticleInput:
        data = self.cleaned_data
        return services.ArticleInput(
            channel_id=data["channel"].pk,
            title=data["title"],
            byline=data["byline"],
            body=data["body"],
            subtitle=data["subtitle"],
            summary=data["summary"],
            tags=split_tags(data["tags"]),
            source=data["source"],
            video_url=data["video_url"],
            cover=data.get("cover") or None,
            video=data.get("video") or None,
        )


class VersionForm(forms.Form):
    """A button that acts on the version the user saw (submit)."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ReturnForm(forms.Form):
    note = forms.CharField(
        label=_("what the author should change"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ApproveForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    publish_at = forms.DateTimeField(
        label=_("publish at"),
        required=False,
        widget=DATETIME,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text=_("Leave empty to publish now."),
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("reason for withdrawing"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ImageForm(forms.Form):
    file = forms.FileField()
