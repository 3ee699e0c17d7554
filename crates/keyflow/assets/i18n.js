// English and Simplified Chinese for the console and the dashboard. The
// language comes from the browser (`navigator.language`) until the operator
// picks one; the pick is remembered in localStorage.

const en = {
  'nav.label': 'Main', 'nav.skip': 'Skip to content', 'nav.overview': 'Overview', 'nav.keys': 'Keys', 'nav.models': 'Models',
  'nav.logs': 'Logs', 'nav.stats': 'Statistics', 'nav.settings': 'Settings', 'nav.dashboard': 'Public dashboard', 'nav.logout': 'Log out',
  'lang.label': 'Language',
  'common.loading': 'Loading…', 'common.yes': 'yes', 'common.no': 'no',
  'action.save': 'Save', 'action.cancel': 'Cancel', 'action.confirm': 'Confirm', 'action.close': 'Close',
  'confirm.title': 'Please confirm',
  'error.network': 'keyflow cannot be reached; check that it is running.',
  'table.empty': 'Nothing here yet.',
  'pager.label': 'Pages', 'pager.prev': 'Previous page', 'pager.next': 'Next page', 'pager.text': 'Page {page} of {pages} · {total} items',
  'time.seconds': '{n} s', 'time.minutes': '{n} min',
  'state.active': 'active', 'state.free': 'free', 'state.cooling': 'cooling', 'state.invalid': 'invalid', 'state.disabled': 'disabled',

  'login.title': 'Sign in to the console', 'login.username': 'Username', 'login.password': 'Password', 'login.submit': 'Sign in',
  'login.missing': 'Enter the username and the password.', 'login.wrong': 'Wrong username or password.',
  'login.limited': 'Too many attempts.', 'login.expired': 'Your session ended; please sign in again.',

  'overview.title': 'Overview', 'overview.auto': 'refreshes every 5 s', 'overview.updated': 'updated {time}',
  'overview.live': 'Live traffic', 'overview.rpm': 'Requests / min', 'overview.tpm': 'Tokens / min', 'overview.rpd': 'Requests / 24 h',
  'overview.tpd': 'Tokens / 24 h', 'overview.today': 'Today', 'overview.requests': 'Requests', 'overview.errors': '{n} errors',
  'overview.tokens': 'Tokens', 'overview.in': 'in', 'overview.out': 'out', 'overview.spend': 'Spend', 'overview.success': 'Success rate',
  'overview.latency': 'Avg latency', 'overview.ttfb': 'first byte', 'overview.pool': 'Key pool', 'overview.balance': 'Pool balance',
  'overview.keys_total': 'Keys', 'overview.all_time': 'All time', 'overview.recent_errors': 'Recent errors',
  'overview.all_errors': 'All errors →', 'overview.no_errors': 'No errors. 🎉',

  'keys.title': 'Keys', 'keys.import': 'Import', 'keys.export': 'Export', 'keys.refresh_all': 'Refresh all balances',
  'keys.state_filter': 'State', 'keys.all_states': 'All states', 'keys.search': 'Search', 'keys.search_hint': 'id or part of a key',
  'keys.page_size': 'Per page', 'keys.bulk': 'Selected keys', 'keys.selected': '{n} selected', 'keys.enable': 'Enable',
  'keys.disable': 'Disable', 'keys.refresh_selected': 'Refresh selected', 'keys.delete': 'Delete', 'keys.clear_selection': 'Clear selection',
  'keys.select_page': 'Select all keys on this page', 'keys.select_one': 'Select key #{id}', 'keys.actions': 'Actions',
  'keys.col.id': 'ID', 'keys.col.key': 'Key', 'keys.col.state': 'State', 'keys.col.balance': 'Balance', 'keys.col.usage': 'Uses',
  'keys.col.last_error': 'Last error', 'keys.col.cooldown': 'Cool-down', 'keys.col.created': 'Added',
  'keys.unknown': 'unknown', 'keys.inflight': 'in flight', 'keys.none': 'No keys yet: import some.', 'keys.none_match': 'No key matches.',
  'keys.enabled_one': 'Key #{id} enabled.', 'keys.disabled_one': 'Key #{id} disabled.',
  'keys.enabled_many': '{n} keys enabled.', 'keys.disabled_many': '{n} keys disabled.', 'keys.deleted': '{n} keys deleted.',
  'keys.confirm_delete_one': 'Delete the key {key}? This cannot be undone.',
  'keys.confirm_delete_many': 'Delete {n} selected keys? This cannot be undone.',
  'keys.refreshing': 'Refreshing balances:', 'keys.refreshed': 'Balances refreshed:', 'keys.refresh_invalid': '{n} invalid',
  'keys.refresh_failed': '{n} failed', 'keys.refresh_running': 'A refresh is already running; following it.',
  'keys.refresh_done': 'Refresh done: {done} checked, {invalid} invalid, {failed} failed.',

  'import.title': 'Import keys', 'import.paste': 'Keys', 'import.file': 'Or read a file',
  'import.paste_hint': 'One per line, or separated by commas or spaces; balance suffixes like (14.00) are fine.',
  'import.validate': 'Check each new key with SiliconFlow (balance and validity)', 'import.empty': 'Paste some keys or choose a file first.',
  'import.checking': 'Importing and checking…', 'import.importing': 'Importing…', 'import.added': 'Added',
  'import.already_present': 'Already present', 'import.malformed': 'Malformed', 'import.invalid': 'Invalid',
  'import.result': 'Result', 'import.details': 'Details ({n})', 'import.more': '{n} more not shown.',

  'export.title': 'Export keys', 'export.sort': 'Sort by', 'export.by_balance': 'Balance', 'export.by_key': 'Key',
  'export.order': 'Order', 'export.desc': 'Descending', 'export.asc': 'Ascending', 'export.sep': 'Separator',
  'export.newline': 'New line', 'export.comma': 'Comma', 'export.filter': 'Keys', 'export.all': 'All', 'export.funded': 'With balance',
  'export.empty': 'Without balance', 'export.with_balance': 'Add each balance in brackets', 'export.text': 'Exported text',
  'export.warning': 'The export holds full, unmasked keys: keep it private.', 'export.count': '{n} keys',
  'export.copy': 'Copy', 'export.download': 'Download', 'export.copied': 'Copied to the clipboard.', 'export.copy_failed': 'Copying failed; select the text instead.',

  'models.title': 'Models', 'models.intro': 'The upstream catalogue. Banned models are refused by the gateway; prices drive the spend estimates (CNY).',
  'models.refresh': 'Fetch the catalogue now', 'models.refreshed': 'Catalogue fetched: {n} models.', 'models.type': 'Type',
  'models.class': 'Price class', 'models.search': 'Search', 'models.all_types': 'All types', 'models.all_classes': 'All',
  'models.free': 'free', 'models.paid': 'paid', 'models.unknown': 'not known yet', 'models.banned_only': 'Banned only',
  'models.count': '{shown} of {total} models · {banned} banned', 'models.none': 'No models known yet.', 'models.none_match': 'No model matches.',
  'models.col.id': 'Model', 'models.col.sub_type': 'Kind', 'models.col.class': 'Class', 'models.col.price': 'Price',
  'models.col.banned': 'Banned', 'models.ban_one': 'Ban {id}', 'models.banned_msg': '{id} is banned.', 'models.unbanned_msg': '{id} is allowed again.',
  'models.edit_price': 'Edit price', 'models.price_title': 'Price of {id}', 'models.price_hint': 'In CNY. Zero means free for that part.',
  'models.input_per_m': 'Input, per million tokens', 'models.output_per_m': 'Output, per million tokens', 'models.per_image': 'Per image',
  'models.per_m_chars': 'Per million characters', 'models.price_saved': 'Price of {id} saved.', 'models.no_price': 'no price',
  'models.price_tokens': '{input} in / {output} out per M tokens', 'models.price_image': '{price} per image', 'models.price_chars': '{price} per M chars',
  'models.types.text': 'Text', 'models.types.image': 'Image', 'models.types.audio': 'Audio', 'models.types.video': 'Video', 'models.types.other': 'Other',
  'models.sub.chat': 'chat', 'models.sub.embedding': 'embedding', 'models.sub.reranker': 'reranker', 'models.sub.text-to-image': 'text to image',
  'models.sub.image-to-image': 'image to image', 'models.sub.speech-to-text': 'speech to text', 'models.sub.text-to-speech': 'text to speech',
  'models.sub.text-to-video': 'text to video',

  'logs.title': 'Logs', 'logs.model': 'Model', 'logs.key_id': 'Key ID', 'logs.token': 'Client token', 'logs.status': 'Status',
  'logs.all': 'All', 'logs.success': 'Success', 'logs.errors': 'Errors', 'logs.code': 'Status code…', 'logs.code_value': 'Code',
  'logs.from': 'From', 'logs.to': 'To', 'logs.apply': 'Apply', 'logs.reset': 'Reset', 'logs.reload': 'Reload', 'logs.clear': 'Clear all logs',
  'logs.confirm_clear': 'Delete every log row? Statistics are computed from the log, so they reset too.', 'logs.cleared': '{n} log rows deleted.',
  'logs.none': 'No requests match.', 'logs.open_row': 'Request {id}: show details', 'logs.details': 'Request {id}',
  'logs.id': 'ID', 'logs.time': 'Time', 'logs.client': 'Client', 'logs.route': 'Route', 'logs.key': 'Key', 'logs.error': 'Error',
  'logs.latency': 'Latency', 'logs.ttfb': 'First byte', 'logs.tokens': 'Tokens', 'logs.prompt_tokens': 'Prompt tokens',
  'logs.completion_tokens': 'Completion tokens', 'logs.total_tokens': 'Total tokens', 'logs.images': 'Images', 'logs.cost': 'Cost',
  'logs.retries': 'Retries', 'logs.stream': 'Streamed', 'logs.aborted': 'Client hung up', 'logs.instance': 'Served by',

  'stats.title': 'Statistics', 'stats.period': 'Period', 'stats.hourly': 'Hourly', 'stats.daily': 'Daily', 'stats.monthly': 'Monthly',
  'stats.range_label': 'Range', 'stats.range.hours': 'last {n} hours', 'stats.range.days': 'last {n} days', 'stats.range.months': 'last {n} months',
  'stats.any': 'any', 'stats.zone': 'Times in {zone}', 'stats.requests': 'Requests', 'stats.tokens': 'Tokens', 'stats.spend': 'Spend',
  'stats.success_rate': 'Success rate', 'stats.latency': 'Avg latency', 'stats.ttfb': 'Avg first byte', 'stats.latency_ttfb': 'Latency and time to first byte',
  'stats.ok': 'succeeded', 'stats.failed': 'failed', 'stats.total': 'total', 'stats.prompt': 'prompt', 'stats.completion': 'completion',
  'stats.by_model': 'Per model', 'stats.by_key': 'Per key', 'stats.by_client': 'Per client token', 'stats.no_token': '(no token)',
  'stats.col.name': 'Name', 'stats.col.requests': 'Requests', 'stats.col.success_rate': 'Success', 'stats.col.prompt': 'Prompt',
  'stats.col.completion': 'Completion', 'stats.col.total': 'Total tokens', 'stats.col.spend': 'Spend', 'stats.col.latency': 'Latency', 'stats.col.ttfb': 'First byte',

  'settings.title': 'Settings', 'settings.intro': 'Changes apply at once, without a restart.', 'settings.revert': 'Revert',
  'settings.saved': 'Settings saved and applied.', 'settings.invalid': 'Not saved:', 'settings.off': 'off',
  'settings.section.pool': 'Key selection', 'settings.section.timeouts': 'Upstream time limits', 'settings.section.models': 'Models',
  'settings.section.access': 'Public dashboard', 'settings.section.console': 'Console, logs and statistics', 'settings.section.images': 'Images through chat',
  'settings.f.key_strategy': 'Strategy', 'settings.h.key_strategy': 'How a key is picked for each request.',
  'settings.f.sticky_sessions': 'Sticky sessions', 'settings.h.sticky_sessions': 'The same user field or X-Session-Id header keeps the same key while it works.',
  'settings.f.key_rpm_limit': 'Requests per minute per key', 'settings.h.key_rpm_limit': 'Empty: no cap.',
  'settings.f.max_retries': 'Retries', 'settings.h.max_retries': 'Other keys tried after a failure (0–16).',
  'settings.f.auto_refresh_interval_secs': 'Balance refresh every (s)', 'settings.h.auto_refresh_interval_secs': '0 turns it off; otherwise at least 60.',
  'settings.f.connect_timeout_secs': 'Connect (s)', 'settings.h.connect_timeout_secs': 'Time to open a connection upstream.',
  'settings.f.first_byte_timeout_secs': 'First byte (s)', 'settings.h.first_byte_timeout_secs': 'Time until upstream starts answering.',
  'settings.f.idle_timeout_secs': 'Idle stream (s)', 'settings.h.idle_timeout_secs': 'Longest pause inside a streamed answer.',
  'settings.f.ban_models': 'Banned models', 'settings.h.ban_models': 'One per line; requests for them are refused.',
  'settings.f.free_models': 'Free models', 'settings.h.free_models': 'One per line; added to those the catalogue marks free.',
  'settings.f.access_control': 'Who sees /dashboard', 'settings.h.access_control': 'Restricted needs a guest password.',
  'settings.f.guest_password': 'Guest password', 'settings.h.guest_password': 'Shown masked; leave as is to keep it, empty to remove it.',
  'settings.f.page_size': 'Rows per page', 'settings.h.page_size': 'Default page size of lists (1–1000).',
  'settings.f.log_retention_days': 'Keep logs (days)', 'settings.h.log_retention_days': '0 keeps them forever.',
  'settings.f.stats_time_zone': 'Statistics time zone', 'settings.h.stats_time_zone': 'An IANA name; empty: the server’s zone.',
  'settings.f.image_max_images_per_request': 'Images per request, at most', 'settings.h.image_max_images_per_request': 'The cap on pic:N.',
  'settings.f.image_image_prompt_model': 'Prompt model', 'settings.h.image_image_prompt_model': 'Rewrites prompts into detailed English.',
  'settings.f.image_prompt_expansion': 'Expand prompts', 'settings.h.image_prompt_expansion': 'Falls back to the original prompt on failure.',
  'settings.f.image_prompt_expansion_timeout_secs': 'Expansion time limit (s)', 'settings.h.image_prompt_expansion_timeout_secs': 'Then the original prompt is used.',
  'settings.f.image_banned_keywords': 'Banned keywords', 'settings.h.image_banned_keywords': 'Prompts containing one are refused.',
  'settings.f.image_use_lsky_pro': 'Re-host on Lsky Pro', 'settings.h.image_use_lsky_pro': 'Keeps the original URL beside the new one.',
  'settings.f.image_lsky_url': 'Lsky Pro URL', 'settings.h.image_lsky_url': 'Base URL of the Lsky Pro server.',
  'settings.f.image_lsky_token': 'Lsky Pro token', 'settings.h.image_lsky_token': 'Shown masked; leave as is to keep it.',
  'settings.f.image_use_shortlink': 'Short links', 'settings.h.image_use_shortlink': 'Shorten each image URL.',
  'settings.f.image_shortlink_url': 'Short-link service URL', 'settings.h.image_shortlink_url': 'Base URL of the short-link service.',
  'settings.f.image_shortlink_api_key': 'Short-link API key', 'settings.h.image_shortlink_api_key': 'For a Sink server: links are made with POST {URL}/api/link/create.',
  'settings.pinned': 'Set by {origin}: applied at every start. A change here applies now and lasts until the next restart.',
  'strategy.random': 'Random', 'strategy.round_robin': 'Round robin', 'strategy.balance_desc': 'Highest balance first',
  'strategy.balance_asc': 'Lowest balance first', 'strategy.oldest': 'Oldest first', 'strategy.newest': 'Newest first',
  'strategy.least_used': 'Least used first', 'strategy.most_used': 'Most used first', 'strategy.least_inflight': 'Fewest in flight',
  'access.open': 'Open: anyone', 'access.restricted': 'Restricted: guest password', 'access.private': 'Private: admin only',

  'tokens.title': 'Client tokens', 'tokens.intro': 'Clients send a token in the header Authorization: Bearer TOKEN. Once any token exists, calls without one are refused. Environment tokens are read-only here.',
  'tokens.col.name': 'Name', 'tokens.col.token': 'Token', 'tokens.col.scope': 'Scope', 'tokens.col.rpm': 'RPM limit',
  'tokens.col.quota': 'Quota', 'tokens.col.spent': 'Spent', 'tokens.col.created': 'Created', 'tokens.col.source': 'Source',
  'tokens.quota_cny': 'Spend quota (CNY)', 'tokens.scope_all': 'all models', 'tokens.scope_free': 'free models only',
  'tokens.env': 'environment', 'tokens.console': 'console', 'tokens.read_only': 'read-only', 'tokens.revoke': 'Revoke',
  'tokens.confirm_revoke': 'Revoke the token {name}? Clients using it are refused at once.', 'tokens.revoked': 'Token {name} revoked.',
  'tokens.none': 'No client tokens: the gateway is open to anyone who can reach it.', 'tokens.new': 'New token', 'tokens.create': 'Create',
  'tokens.created': 'Token {name} created', 'tokens.once': 'Copy the token now: it is shown only this once.', 'tokens.value': 'New token',
  'tokens.usage': 'Use it as the API key of your OpenAI or Anthropic client, with this server’s /v1 as the base URL.',

  'password.title': 'Admin password', 'password.intro': 'Changing it signs out every console session, this one included.',
  'password.current': 'Current password', 'password.new': 'New password', 'password.again': 'New password again',
  'password.hint': 'At least 8 characters.', 'password.submit': 'Change password', 'password.short': 'The new password needs at least 8 characters.',
  'password.mismatch': 'The two new passwords differ.', 'password.changed': 'Password changed; sign in with the new one.',

  'dash.title': 'Pool status', 'dash.console': 'Console', 'dash.auto': 'refreshes every 5 s', 'dash.keys': 'Keys',
  'dash.guest_title': 'Guest access', 'dash.guest': 'This dashboard is shared with a guest password.', 'dash.password': 'Guest password',
  'dash.enter': 'Show the dashboard', 'dash.wrong': 'Wrong password.', 'dash.private_title': 'Private dashboard',
  'dash.private': 'This dashboard is private; log in to the console to see it.', 'dash.login_console': 'Log in to the console',
};

const zh = {
  'nav.label': '主导航', 'nav.skip': '跳到正文', 'nav.overview': '概览', 'nav.keys': '密钥', 'nav.models': '模型',
  'nav.logs': '日志', 'nav.stats': '统计', 'nav.settings': '设置', 'nav.dashboard': '公开面板', 'nav.logout': '退出登录',
  'lang.label': '语言',
  'common.loading': '加载中…', 'common.yes': '是', 'common.no': '否',
  'action.save': '保存', 'action.cancel': '取消', 'action.confirm': '确认', 'action.close': '关闭',
  'confirm.title': '请确认',
  'error.network': '无法连接 keyflow，请确认它正在运行。',
  'table.empty': '暂无数据。',
  'pager.label': '分页', 'pager.prev': '上一页', 'pager.next': '下一页', 'pager.text': '第 {page} / {pages} 页 · 共 {total} 条',
  'time.seconds': '{n} 秒', 'time.minutes': '{n} 分钟',
  'state.active': '可用', 'state.free': '免费', 'state.cooling': '冷却中', 'state.invalid': '无效', 'state.disabled': '已禁用',

  'login.title': '登录控制台', 'login.username': '用户名', 'login.password': '密码', 'login.submit': '登录',
  'login.missing': '请输入用户名和密码。', 'login.wrong': '用户名或密码错误。',
  'login.limited': '尝试次数过多。', 'login.expired': '会话已结束，请重新登录。',

  'overview.title': '概览', 'overview.auto': '每 5 秒刷新', 'overview.updated': '更新于 {time}',
  'overview.live': '实时流量', 'overview.rpm': '每分钟请求', 'overview.tpm': '每分钟 Token', 'overview.rpd': '24 小时请求',
  'overview.tpd': '24 小时 Token', 'overview.today': '今日', 'overview.requests': '请求数', 'overview.errors': '{n} 次失败',
  'overview.tokens': 'Token', 'overview.in': '输入', 'overview.out': '输出', 'overview.spend': '花费', 'overview.success': '成功率',
  'overview.latency': '平均延迟', 'overview.ttfb': '首字节', 'overview.pool': '密钥池', 'overview.balance': '总余额',
  'overview.keys_total': '密钥数', 'overview.all_time': '累计', 'overview.recent_errors': '最近的错误',
  'overview.all_errors': '全部错误 →', 'overview.no_errors': '没有错误。🎉',

  'keys.title': '密钥', 'keys.import': '导入', 'keys.export': '导出', 'keys.refresh_all': '刷新全部余额',
  'keys.state_filter': '状态', 'keys.all_states': '全部状态', 'keys.search': '搜索', 'keys.search_hint': 'ID 或密钥片段',
  'keys.page_size': '每页', 'keys.bulk': '已选密钥', 'keys.selected': '已选 {n} 个', 'keys.enable': '启用',
  'keys.disable': '禁用', 'keys.refresh_selected': '刷新所选', 'keys.delete': '删除', 'keys.clear_selection': '取消选择',
  'keys.select_page': '选择本页全部密钥', 'keys.select_one': '选择密钥 #{id}', 'keys.actions': '操作',
  'keys.col.id': 'ID', 'keys.col.key': '密钥', 'keys.col.state': '状态', 'keys.col.balance': '余额', 'keys.col.usage': '使用次数',
  'keys.col.last_error': '最近错误', 'keys.col.cooldown': '冷却', 'keys.col.created': '添加时间',
  'keys.unknown': '未知', 'keys.inflight': '进行中', 'keys.none': '还没有密钥，请先导入。', 'keys.none_match': '没有匹配的密钥。',
  'keys.enabled_one': '密钥 #{id} 已启用。', 'keys.disabled_one': '密钥 #{id} 已禁用。',
  'keys.enabled_many': '已启用 {n} 个密钥。', 'keys.disabled_many': '已禁用 {n} 个密钥。', 'keys.deleted': '已删除 {n} 个密钥。',
  'keys.confirm_delete_one': '删除密钥 {key}？此操作无法撤销。',
  'keys.confirm_delete_many': '删除所选的 {n} 个密钥？此操作无法撤销。',
  'keys.refreshing': '正在刷新余额：', 'keys.refreshed': '余额已刷新：', 'keys.refresh_invalid': '{n} 个无效',
  'keys.refresh_failed': '{n} 个失败', 'keys.refresh_running': '已有刷新在进行，正在跟踪进度。',
  'keys.refresh_done': '刷新完成：检查 {done} 个，无效 {invalid} 个，失败 {failed} 个。',

  'import.title': '导入密钥', 'import.paste': '密钥', 'import.file': '或读取文件',
  'import.paste_hint': '每行一个，或用逗号、空格分隔；带 (14.00) 这样的余额后缀也可以。',
  'import.validate': '向硅基流动检查每个新密钥（余额与有效性）', 'import.empty': '请先粘贴密钥或选择文件。',
  'import.checking': '正在导入并检查…', 'import.importing': '正在导入…', 'import.added': '新增',
  'import.already_present': '已存在', 'import.malformed': '格式错误', 'import.invalid': '无效',
  'import.result': '结果', 'import.details': '明细（{n}）', 'import.more': '另有 {n} 条未显示。',

  'export.title': '导出密钥', 'export.sort': '排序', 'export.by_balance': '按余额', 'export.by_key': '按密钥',
  'export.order': '顺序', 'export.desc': '降序', 'export.asc': '升序', 'export.sep': '分隔符',
  'export.newline': '换行', 'export.comma': '逗号', 'export.filter': '范围', 'export.all': '全部', 'export.funded': '有余额',
  'export.empty': '无余额', 'export.with_balance': '在括号中附上余额', 'export.text': '导出内容',
  'export.warning': '导出内容是完整、未打码的密钥，请妥善保管。', 'export.count': '{n} 个密钥',
  'export.copy': '复制', 'export.download': '下载', 'export.copied': '已复制到剪贴板。', 'export.copy_failed': '复制失败，请手动选择文本。',

  'models.title': '模型', 'models.intro': '上游的模型目录。被禁用的模型会被网关拒绝；价格用于估算花费（人民币）。',
  'models.refresh': '立即获取目录', 'models.refreshed': '目录已更新：{n} 个模型。', 'models.type': '类型',
  'models.class': '计费', 'models.search': '搜索', 'models.all_types': '全部类型', 'models.all_classes': '全部',
  'models.free': '免费', 'models.paid': '付费', 'models.unknown': '尚不清楚', 'models.banned_only': '仅已禁用',
  'models.count': '显示 {shown} / {total} 个模型 · 已禁用 {banned} 个', 'models.none': '还不知道任何模型。', 'models.none_match': '没有匹配的模型。',
  'models.col.id': '模型', 'models.col.sub_type': '类别', 'models.col.class': '计费', 'models.col.price': '价格',
  'models.col.banned': '禁用', 'models.ban_one': '禁用 {id}', 'models.banned_msg': '{id} 已禁用。', 'models.unbanned_msg': '{id} 已恢复可用。',
  'models.edit_price': '修改价格', 'models.price_title': '{id} 的价格', 'models.price_hint': '单位：人民币。0 表示该部分免费。',
  'models.input_per_m': '输入，每百万 Token', 'models.output_per_m': '输出，每百万 Token', 'models.per_image': '每张图片',
  'models.per_m_chars': '每百万字符', 'models.price_saved': '{id} 的价格已保存。', 'models.no_price': '无价格',
  'models.price_tokens': '输入 {input} / 输出 {output} 每百万 Token', 'models.price_image': '每张 {price}', 'models.price_chars': '每百万字符 {price}',
  'models.types.text': '文本', 'models.types.image': '图像', 'models.types.audio': '语音', 'models.types.video': '视频', 'models.types.other': '其他',
  'models.sub.chat': '对话', 'models.sub.embedding': '嵌入', 'models.sub.reranker': '重排序', 'models.sub.text-to-image': '文生图',
  'models.sub.image-to-image': '图生图', 'models.sub.speech-to-text': '语音转文字', 'models.sub.text-to-speech': '文字转语音',
  'models.sub.text-to-video': '文生视频',

  'logs.title': '日志', 'logs.model': '模型', 'logs.key_id': '密钥 ID', 'logs.token': '客户端令牌', 'logs.status': '状态',
  'logs.all': '全部', 'logs.success': '成功', 'logs.errors': '失败', 'logs.code': '状态码…', 'logs.code_value': '状态码',
  'logs.from': '开始', 'logs.to': '结束', 'logs.apply': '应用', 'logs.reset': '重置', 'logs.reload': '重新加载', 'logs.clear': '清空日志',
  'logs.confirm_clear': '删除全部日志？统计由日志计算，也会一并清零。', 'logs.cleared': '已删除 {n} 条日志。',
  'logs.none': '没有匹配的请求。', 'logs.open_row': '请求 {id}：查看详情', 'logs.details': '请求 {id}',
  'logs.id': 'ID', 'logs.time': '时间', 'logs.client': '客户端', 'logs.route': '路由', 'logs.key': '密钥', 'logs.error': '错误',
  'logs.latency': '延迟', 'logs.ttfb': '首字节', 'logs.tokens': 'Token', 'logs.prompt_tokens': '输入 Token',
  'logs.completion_tokens': '输出 Token', 'logs.total_tokens': '总 Token', 'logs.images': '图片', 'logs.cost': '花费',
  'logs.retries': '重试', 'logs.stream': '流式', 'logs.aborted': '客户端中途断开', 'logs.instance': '处理实例',

  'stats.title': '统计', 'stats.period': '粒度', 'stats.hourly': '按小时', 'stats.daily': '按天', 'stats.monthly': '按月',
  'stats.range_label': '范围', 'stats.range.hours': '最近 {n} 小时', 'stats.range.days': '最近 {n} 天', 'stats.range.months': '最近 {n} 个月',
  'stats.any': '全部', 'stats.zone': '时区：{zone}', 'stats.requests': '请求数', 'stats.tokens': 'Token', 'stats.spend': '花费',
  'stats.success_rate': '成功率', 'stats.latency': '平均延迟', 'stats.ttfb': '平均首字节', 'stats.latency_ttfb': '延迟与首字节时间',
  'stats.ok': '成功', 'stats.failed': '失败', 'stats.total': '总计', 'stats.prompt': '输入', 'stats.completion': '输出',
  'stats.by_model': '按模型', 'stats.by_key': '按密钥', 'stats.by_client': '按客户端令牌', 'stats.no_token': '（无令牌）',
  'stats.col.name': '名称', 'stats.col.requests': '请求数', 'stats.col.success_rate': '成功率', 'stats.col.prompt': '输入',
  'stats.col.completion': '输出', 'stats.col.total': '总 Token', 'stats.col.spend': '花费', 'stats.col.latency': '延迟', 'stats.col.ttfb': '首字节',

  'settings.title': '设置', 'settings.intro': '修改立即生效，无需重启。', 'settings.revert': '还原',
  'settings.saved': '设置已保存并生效。', 'settings.invalid': '未保存：', 'settings.off': '关闭',
  'settings.section.pool': '密钥选择', 'settings.section.timeouts': '上游超时', 'settings.section.models': '模型',
  'settings.section.access': '公开面板', 'settings.section.console': '控制台、日志与统计', 'settings.section.images': '对话生图',
  'settings.f.key_strategy': '策略', 'settings.h.key_strategy': '每个请求如何挑选密钥。',
  'settings.f.sticky_sessions': '会话粘滞', 'settings.h.sticky_sessions': '相同的 user 字段或 X-Session-Id 请求头在可用时沿用同一个密钥。',
  'settings.f.key_rpm_limit': '每个密钥每分钟请求上限', 'settings.h.key_rpm_limit': '留空表示不限。',
  'settings.f.max_retries': '重试次数', 'settings.h.max_retries': '失败后改用其他密钥的次数（0–16）。',
  'settings.f.auto_refresh_interval_secs': '余额自动刷新间隔（秒）', 'settings.h.auto_refresh_interval_secs': '0 表示关闭，否则至少 60。',
  'settings.f.connect_timeout_secs': '连接（秒）', 'settings.h.connect_timeout_secs': '连接上游的时限。',
  'settings.f.first_byte_timeout_secs': '首字节（秒）', 'settings.h.first_byte_timeout_secs': '等待上游开始应答的时限。',
  'settings.f.idle_timeout_secs': '流式空闲（秒）', 'settings.h.idle_timeout_secs': '流式应答中允许的最长停顿。',
  'settings.f.ban_models': '禁用的模型', 'settings.h.ban_models': '每行一个；这些模型的请求会被拒绝。',
  'settings.f.free_models': '免费模型', 'settings.h.free_models': '每行一个；补充目录中标记为免费的模型。',
  'settings.f.access_control': '谁能看 /dashboard', 'settings.h.access_control': '受限模式需要访客密码。',
  'settings.f.guest_password': '访客密码', 'settings.h.guest_password': '以掩码显示；保持不变即保留，清空即删除。',
  'settings.f.page_size': '每页行数', 'settings.h.page_size': '列表的默认分页大小（1–1000）。',
  'settings.f.log_retention_days': '日志保留（天）', 'settings.h.log_retention_days': '0 表示永久保留。',
  'settings.f.stats_time_zone': '统计时区', 'settings.h.stats_time_zone': 'IANA 时区名；留空使用服务器时区。',
  'settings.f.image_max_images_per_request': '每次最多图片数', 'settings.h.image_max_images_per_request': 'pic:N 的上限。',
  'settings.f.image_image_prompt_model': '提示词模型', 'settings.h.image_image_prompt_model': '把提示词改写为详细的英文。',
  'settings.f.image_prompt_expansion': '扩写提示词', 'settings.h.image_prompt_expansion': '失败时使用原始提示词。',
  'settings.f.image_prompt_expansion_timeout_secs': '扩写时限（秒）', 'settings.h.image_prompt_expansion_timeout_secs': '超时后使用原始提示词。',
  'settings.f.image_banned_keywords': '违禁词', 'settings.h.image_banned_keywords': '包含这些词的提示词会被拒绝。',
  'settings.f.image_use_lsky_pro': '转存到兰空图床', 'settings.h.image_use_lsky_pro': '保留原始链接并附上新链接。',
  'settings.f.image_lsky_url': '兰空图床地址', 'settings.h.image_lsky_url': '兰空图床服务的基础 URL。',
  'settings.f.image_lsky_token': '兰空图床令牌', 'settings.h.image_lsky_token': '以掩码显示；保持不变即保留。',
  'settings.f.image_use_shortlink': '短链接', 'settings.h.image_use_shortlink': '为每个图片链接生成短链接。',
  'settings.f.image_shortlink_url': '短链接服务地址', 'settings.h.image_shortlink_url': '短链接服务的基础 URL。',
  'settings.f.image_shortlink_api_key': '短链接 API 密钥', 'settings.h.image_shortlink_api_key': '用于 Sink 服务：通过 POST {URL}/api/link/create 生成短链接。',
  'settings.pinned': '由 {origin} 设置：每次启动时生效。在此修改立即生效，持续到下次重启。',
  'strategy.random': '随机', 'strategy.round_robin': '轮询', 'strategy.balance_desc': '余额最多优先',
  'strategy.balance_asc': '余额最少优先', 'strategy.oldest': '添加最早优先', 'strategy.newest': '添加最新优先',
  'strategy.least_used': '使用最少优先', 'strategy.most_used': '使用最多优先', 'strategy.least_inflight': '进行中最少优先',
  'access.open': '开放：所有人', 'access.restricted': '受限：访客密码', 'access.private': '私有：仅管理员',

  'tokens.title': '客户端令牌', 'tokens.intro': '客户端在请求头 Authorization: Bearer 令牌 中发送令牌。只要存在任一令牌，不带令牌的调用就会被拒绝。环境变量中的令牌在此只读。',
  'tokens.col.name': '名称', 'tokens.col.token': '令牌', 'tokens.col.scope': '范围', 'tokens.col.rpm': '每分钟上限',
  'tokens.col.quota': '额度', 'tokens.col.spent': '已花费', 'tokens.col.created': '创建时间', 'tokens.col.source': '来源',
  'tokens.quota_cny': '花费额度（元）', 'tokens.scope_all': '全部模型', 'tokens.scope_free': '仅免费模型',
  'tokens.env': '环境变量', 'tokens.console': '控制台', 'tokens.read_only': '只读', 'tokens.revoke': '吊销',
  'tokens.confirm_revoke': '吊销令牌 {name}？使用它的客户端会立即被拒绝。', 'tokens.revoked': '令牌 {name} 已吊销。',
  'tokens.none': '没有客户端令牌：任何能访问本服务的人都可以调用。', 'tokens.new': '新建令牌', 'tokens.create': '创建',
  'tokens.created': '令牌 {name} 已创建', 'tokens.once': '请立即复制：令牌只显示这一次。', 'tokens.value': '新令牌',
  'tokens.usage': '在 OpenAI 或 Anthropic 客户端中把它用作 API Key，Base URL 设为本服务的 /v1。',

  'password.title': '管理员密码', 'password.intro': '修改后所有控制台会话（包括当前会话）都会退出。',
  'password.current': '当前密码', 'password.new': '新密码', 'password.again': '再次输入新密码',
  'password.hint': '至少 8 个字符。', 'password.submit': '修改密码', 'password.short': '新密码至少需要 8 个字符。',
  'password.mismatch': '两次输入的新密码不一致。', 'password.changed': '密码已修改，请用新密码登录。',

  'dash.title': '密钥池状态', 'dash.console': '控制台', 'dash.auto': '每 5 秒刷新', 'dash.keys': '密钥',
  'dash.guest_title': '访客访问', 'dash.guest': '此面板通过访客密码共享。', 'dash.password': '访客密码',
  'dash.enter': '查看面板', 'dash.wrong': '密码错误。', 'dash.private_title': '私有面板',
  'dash.private': '此面板为私有；请登录控制台查看。', 'dash.login_console': '登录控制台',
};

export const DICTIONARIES = { en, zh };
const STORAGE_KEY = 'keyflow.lang';

function initial() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved && DICTIONARIES[saved]) return saved;
  } catch (_) {
    // Storage may be blocked (private mode); fall back to the browser's language.
  }
  const wanted = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return wanted.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let current = initial();
const listeners = [];
document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en';

export function lang() {
  return current;
}

/** The locale for numbers and dates. */
export function locale() {
  return current === 'zh' ? 'zh-CN' : 'en-US';
}

/** The text of `key` with `{name}` placeholders filled; the key itself when missing. */
export function t(key, params) {
  const text = DICTIONARIES[current][key] ?? en[key];
  if (text === undefined) return key;
  return params ? text.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined ? m : String(params[name]))) : text;
}

/** Like `t`, with a fallback for keys made from server values (model types). */
export function tOr(key, fallback) {
  return DICTIONARIES[current][key] ?? en[key] ?? fallback;
}

/** Fills `data-i18n` (text) and `data-i18n-aria-label` attributes under `root`. */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  for (const el of root.querySelectorAll('[data-lang-select]')) el.value = current;
}

export function setLang(next) {
  if (!DICTIONARIES[next] || next === current) return;
  current = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch (_) {
    // Not remembered, but still switched for this page.
  }
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  applyStatic();
  for (const fn of listeners) fn(next);
}

export function onLanguageChange(fn) {
  listeners.push(fn);
}

/** Wires every `<select data-lang-select>` to `setLang`. */
export function bindLanguageSelects() {
  for (const el of document.querySelectorAll('[data-lang-select]')) {
    el.value = current;
    el.addEventListener('change', () => setLang(el.value));
  }
}
